"""Schemathesis hooks: every request carries a valid access token of an
admin (so admin routes are explored too). The token is renewed every second,
because the run itself logs out, ends sessions and changes passwords."""
import json
import os
import urllib.request

import schemathesis

BASE = os.environ["ST_BASE_URL"].rstrip("/")
EMAIL = os.environ.get("ST_ADMIN_EMAIL", "st-admin@example.com")
# A throwaway account on a throwaway test server; the run cannot change it
# (wrong current passwords never match, and admins cannot demote,
# deactivate or delete themselves).
PASSWORD = "schemathesis vivid lantern 2026"


def _post(path, body):
    req = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


_post("/auth/signup", {"email": EMAIL, "password": PASSWORD})


@schemathesis.auth(refresh_interval=1)
class AdminToken:
    def get(self, case, ctx):
        status, body = _post("/auth/login", {"email": EMAIL, "password": PASSWORD})
        assert status == 200, f"login for schemathesis failed: {status}"
        return body["access_token"]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
