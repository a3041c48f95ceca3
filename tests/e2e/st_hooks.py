"""Schemathesis hooks.

- Every request carries a valid access token of an admin (so admin routes
  are explored too). The token is renewed every second, because the run
  itself logs out, ends sessions and changes passwords.
- Half of the cases of the operations whose success needs something a
  schema cannot give (a real password, an existing book, a live refresh
  token) get it, so their success paths are explored as well as their
  refusals: login with the admin's credentials, a password change whose
  current password is right, a strong password at signup, orders of a
  real book, edits of a real task and book, refreshes of a live token.
- Each answer's status is counted per operation; the counts are written to
  ST_STATUS_FILE when the run ends (schemathesis.sh prints them).
"""
import atexit
import collections
import json
import os
import urllib.request

import schemathesis
from hypothesis import strategies as st

BASE = os.environ["ST_BASE_URL"].rstrip("/")
EMAIL = os.environ.get("ST_ADMIN_EMAIL", "st-admin@example.com")
# A throwaway account on a throwaway test server. The run cannot change its
# password: a change is only ever sent with the same password as the new one.
PASSWORD = "schemathesis vivid lantern 2026"
STRONG = "marble giraffe quietly 1987 sunset"


def _call(method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def _login():
    status, body = _call("POST", "/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert status == 200, f"login for schemathesis failed: {status}"
    return body


def _mailed_token(to, subject=""):
    """The token of the newest mail to `to` (whose subject contains
    `subject`) in the server's mail folder: ADMIN_EMAILS grants admin only
    once the address is verified, and the one-time-token routes need one."""
    import email as mail_parser
    import glob
    import re
    import time

    for _ in range(200):
        found = []
        for path in glob.glob(os.path.join(os.environ["ST_MAIL_DIR"], "*.eml")):
            with open(path, "rb") as f:
                message = mail_parser.message_from_bytes(f.read())
            if to not in (message.get("To") or "") or subject not in (message.get("Subject") or ""):
                continue
            text = message.get_payload(decode=True).decode()
            match = re.search(r"token=([A-Za-z0-9_-]{43})", text)
            if match:
                found.append((os.path.getmtime(path), match.group(1)))
        if found:
            return max(found)[1]
        time.sleep(0.05)
    raise AssertionError(f"no verification mail to {to}")


_call("POST", "/auth/signup", {"email": EMAIL, "password": PASSWORD})
_status, _ = _call("POST", "/auth/verify-email", {"token": _mailed_token(EMAIL), "password": PASSWORD})
assert _status == 204, f"verifying the schemathesis admin failed: {_status}"
_admin = _login()["access_token"]
_status, _book = _call(
    "POST", "/books", {"title": "Schemathesis Book", "author": "A. Writer", "price_cents": 100, "stock": 1000000}, _admin
)
assert _status == 201, _status
BOOK = _book["id"]
_status, _task = _call("POST", "/tasks", {"title": "Schemathesis task"}, _admin)
assert _status == 201, _status
TASK = _task["id"]


# Operations that end the caller's sessions get a token of their own, so
# they cannot end the one the rest of the run shares.
SESSION_ENDING = {"POST /auth/logout", "POST /auth/logout-all", "POST /auth/password", "DELETE /auth/sessions/{id}"}
# The password a realistic account deletion sends: it deletes a throwaway
# account made for it, never the admin.
THROWAWAY_PASSWORD = "throwaway cobalt meadow 4412"
_counter = iter(range(10**9))


def _throwaway():
    """A fresh account: (user id, access token)."""
    return _throwaway_with_email()[:2]


def _throwaway_with_email():
    """A fresh account: (user id, access token, email)."""
    email = f"st-throwaway-{next(_counter)}@example.com"
    status, user = _call("POST", "/auth/signup", {"email": email, "password": THROWAWAY_PASSWORD})
    assert status == 201, status
    status, tokens = _call("POST", "/auth/login", {"email": email, "password": THROWAWAY_PASSWORD})
    assert status == 200, status
    return user["id"], tokens["access_token"], email


def _reset_token():
    _, _, email = _throwaway_with_email()
    _call("POST", "/auth/password-reset", {"email": email})
    return _mailed_token(email, "Reset")


def _email_change_token():
    _, token, _ = _throwaway_with_email()
    new = f"st-moved-{next(_counter)}@example.com"
    status, _ = _call("POST", "/users/me/email", {"new_email": new, "password": THROWAWAY_PASSWORD}, token)
    assert status == 202, status
    return _mailed_token(new, "Confirm your new address")


def _revert_token():
    """The take-back link mailed to the old address once a change of
    address is confirmed."""
    _, token, old = _throwaway_with_email()
    new = f"st-moved-{next(_counter)}@example.com"
    status, _ = _call("POST", "/users/me/email", {"new_email": new, "password": THROWAWAY_PASSWORD}, token)
    assert status == 202, status
    confirm = _mailed_token(new, "Confirm your new address")
    status, _ = _call("POST", "/auth/email-change/confirm", {"token": confirm, "password": THROWAWAY_PASSWORD})
    assert status == 204, status
    return _mailed_token(old, "The address of your account was changed")


@schemathesis.auth(refresh_interval=1)
class AdminToken:
    def get(self, case, ctx):
        return _login()["access_token"]

    def set(self, case, data, ctx):
        op = _op(case)
        case.headers = case.headers or {}
        if case.headers.pop("X-Throwaway-Token", None):
            # A realistic deletion: the hook below made an account for it.
            return
        if op in SESSION_ENDING:
            data = _login()["access_token"]
        case.headers["Authorization"] = f"Bearer {data}"


def _op(case):
    return f"{case.operation.method.upper()} {case.operation.path}"


def _realistic(case):
    """The case with what its success needs (None: nothing to add)."""
    op = _op(case)
    body = case.body if isinstance(case.body, dict) else None
    if op == "POST /auth/login" and body is not None:
        if "username" in body:  # the OAuth2 form
            return {**body, "username": EMAIL, "password": PASSWORD}
        return {**body, "email": EMAIL, "password": PASSWORD}
    if op == "POST /auth/password" and body is not None:
        return {"current_password": PASSWORD, "new_password": PASSWORD}
    if op in ("POST /auth/signup", "POST /auth/register") and body is not None:
        # A new address, a strong password, no birth date in the future.
        fresh = {k: v for k, v in body.items() if k not in ("date_of_birth", "username")}
        return {**fresh, "email": f"st-new-{next(_counter)}@example.com", "password": STRONG}
    if op == "POST /auth/validate-token" and body is not None:
        return {"token": _login()["access_token"]}
    if op == "DELETE /users/me":
        return {"password": THROWAWAY_PASSWORD}
    if op == "POST /auth/verify-email":
        return {"token": _mailed_token(_throwaway_with_email()[2], "Welcome"), "password": THROWAWAY_PASSWORD}
    if op == "POST /auth/verify-email/resend":
        return case.body
    if op == "POST /auth/password-reset/confirm":
        return {"token": _reset_token(), "new_password": STRONG}
    if op == "POST /auth/email-change/confirm":
        return {"token": _email_change_token(), "password": THROWAWAY_PASSWORD}
    if op == "POST /auth/email-change/revert":
        return {"token": _revert_token(), "new_password": STRONG}
    if op == "POST /users/me/email":
        return {"new_email": f"st-change-{next(_counter)}@example.com", "password": PASSWORD}
    if op == "POST /auth/refresh" and body is not None:
        return {**body, "refresh_token": _login()["refresh_token"]}
    if op == "POST /orders" and body is not None:
        lines = body.get("items") if isinstance(body.get("items"), list) else [{}]
        quantity = next((l.get("quantity") for l in lines if isinstance(l, dict)), 1)
        return {"items": [{"book_id": BOOK, "quantity": quantity}]}
    if op == "DELETE /admin/users/{id}":
        return case.body
    if op in ("PATCH /tasks/{id}", "PATCH /books/{id}", "PATCH /users/me") and body is not None:
        # A version read long ago is stale by design (409): leave it out.
        return {k: v for k, v in body.items() if k != "version"}
    return None


@schemathesis.hook
def flatmap_case(ctx, case):
    realistic = _realistic(case)
    if realistic is None:
        return st.just(case)

    def choose(real):
        if not real:
            return case
        case.body = realistic
        if _op(case) == "PATCH /tasks/{id}":
            case.path_parameters = {**(case.path_parameters or {}), "id": TASK}
        if _op(case) == "PATCH /books/{id}":
            case.path_parameters = {**(case.path_parameters or {}), "id": BOOK}
        if _op(case) == "DELETE /admin/users/{id}":
            case.path_parameters = {**(case.path_parameters or {}), "id": _throwaway()[0]}
        if _op(case) in ("DELETE /users/me", "POST /auth/verify-email/resend"):
            case.media_type = "application/json"
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {_throwaway()[1]}"
            case.headers["X-Throwaway-Token"] = "1"
        if case.headers:
            case.headers.pop("If-Match", None)
            case.headers.pop("if-match", None)
        return case

    # Three realistic cases in four: the refusals are explored by the
    # schema-driven cases of the other phases as well.
    return st.sampled_from([True, True, True, False]).map(choose)


STATUSES = collections.defaultdict(collections.Counter)


@schemathesis.hook
def after_call(ctx, case, response):
    STATUSES[_op(case)][response.status_code] += 1


@atexit.register
def _write_statuses():
    path = os.environ.get("ST_STATUS_FILE")
    if path:
        with open(path, "w") as f:
            json.dump({op: dict(c) for op, c in sorted(STATUSES.items())}, f, indent=1, sort_keys=True)

