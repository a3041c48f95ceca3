"""The hosted pages in a real browser (Playwright driving Debian's Chromium).

    python tests/e2e/pages.py URL MAIL [OUT]

URL is a running local server; MAIL is where its mails are: the embedded
mail folder (`DATA_DIR/mail`) or moto's endpoint (`http://…`, whose
`/_tests/ses/messages` lists what SES accepted). The server must have
`ADMIN_EMAILS=root@example.com` and `SIGNUPS_PER_IP_PER_HOUR` above 30
(tests/e2e/pages.sh starts it so).

Every step is what a person does, by clicking and typing: sign up, open the
link from the mail, confirm, sign in, edit the profile (with a name that is
an XSS attempt and must stay text), see two sessions and sign the other one
out, change the password, forget it, reset it from the mailed link, sign in
with the new one; then an admin deactivates the user, whose open page is
signed out on its next call. On every page: no Content-Security-Policy
violation (a listener is installed before any script runs), no dialog (the
XSS name would open one), no console error, and axe-core finds no WCAG 2.1
A/AA violation. Screenshots go to OUT (default tests/out/pages).
"""

import email
import email.policy
import http.client
import json
import os
import pathlib
import re
import sys
import time
import urllib.parse
import urllib.request
import uuid

from playwright.sync_api import expect, sync_playwright

URL = sys.argv[1].rstrip("/")
MAIL = sys.argv[2]
OUT = pathlib.Path(sys.argv[3] if len(sys.argv) > 3 else "tests/out/pages")
OUT.mkdir(parents=True, exist_ok=True)
AXE = pathlib.Path(os.environ.get("AXE_JS", "tests/e2e/.axe/node_modules/axe-core/axe.min.js")).read_text()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

RUN = uuid.uuid4().hex[:8]
ADA = f"ada.{RUN}@example.com"
ROOT = "root@example.com"
XSS = "<img src=x onerror=alert(1)>"
PASSWORD = "copper kettle harbour 93"
NEW_PASSWORD = "silver meadow lantern 58"
LATER_PASSWORD = "violet canyon drummer 27"

passed = 0
failed = 0


def png(width, height):
    """A real PNG (a colour gradient), made here so the suite needs no file."""
    import struct
    import zlib
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 4 % 256, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


# ---- mail ----------------------------------------------------------------

def mails():
    """Every mail the server sent so far: (to, subject, text)."""
    if MAIL.startswith("http"):
        with urllib.request.urlopen(f"{MAIL}/_tests/ses/messages") as r:
            data = json.load(r)
        out = []
        for m in data:
            raw = m.get("raw") or ""
            msg = email.message_from_string(raw, policy=email.policy.default)
            part = msg.get_body(preferencelist=("plain",))
            to = m.get("destinations")
            if isinstance(to, dict):
                to = to.get("ToAddresses", [])
            out.append((",".join(to or []) + str(msg["To"]), m.get("subject") or str(msg["Subject"]),
                        part.get_content() if part else raw))
        return out
    out = []
    for path in sorted(pathlib.Path(MAIL).glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        out.append((str(msg["To"]), str(msg["Subject"]), part.get_content() if part else ""))
    return out


def link(to, page, after=0):
    """The newest link to `page` in a mail to `to`, waiting for the consumer."""
    deadline = time.time() + 20
    while time.time() < deadline:
        found = [m for m in mails()[after:] if to in m[0]]
        for _, _, text in reversed(found):
            match = re.search(r"(https?://\S+/" + re.escape(page) + r"#token=[A-Za-z0-9_-]+)", text)
            if match:
                return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {to} with a /{page} link")


# ---- the API, for what a person does not click (the admin's set-up) ---------

def api(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text else None


def stranger_login(email_address, n):
    """A wrong password from another address (127.0.0.n), as a stranger guesses."""
    parts = urllib.parse.urlsplit(URL)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, source_address=(f"127.0.0.{n}", 0))
    conn.request("POST", parts.path + "/auth/login",
                 body=json.dumps({"email": email_address, "password": "a stranger's guess"}),
                 headers={"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


# ---- pages ---------------------------------------------------------------

CSP_LISTENER = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def watch(page, label):
    """Fails the run on any dialog or console error of `page`. (With the CSP
    an injected `onerror` could not run anyway; the markup checks and the
    violation listener are what would see an injection.)"""
    page.on("dialog", lambda d: (check(f"{label}: no dialog opens", False, d.message), d.dismiss()))
    # Chromium logs every 4xx answer as "Failed to load resource"; the
    # flows expect some (a wrong password, an ended session).
    page.on("console", lambda m: m.type == "error" and not m.text.startswith("Failed to load resource")
            and "cdn.redoc.ly" not in m.text
            and check(f"{label}: no console error", False, m.text))
    page.on("pageerror", lambda e: check(f"{label}: no script error", False, str(e)))


def sign_in(page, address, password, lands=True):
    """Signs in from the sign-in page, as a person does; waits for the account page."""
    if not page.url.endswith("/login"):
        page.goto(f"{URL}/login")
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if lands:
        page.wait_for_url(f"{URL}/account")


def audit(page, name):
    """Screenshot, no CSP violation, and axe-core's WCAG 2.1 A/AA rules."""
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
    violations = page.evaluate("window.__violations")
    check(f"{name}: no CSP violation", violations == [], violations)
    # evaluate() runs over the DevTools protocol, outside the page's CSP:
    # the page itself still may not run inline code.
    result = page.evaluate(AXE + """
      ;axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
        .then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))
    """)
    check(f"{name}: axe finds no WCAG 2.1 AA violation", result == [], result)


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)

        def context():
            ctx = browser.new_context(viewport={"width": 1024, "height": 800})
            ctx.add_init_script(CSP_LISTENER)
            return ctx

        first = context()
        page = first.new_page()
        watch(page, "first browser")

        # Sign up, with the password rules shown as one types.
        page.goto(f"{URL}/signup")
        audit(page, "signup")
        page.get_by_label("Email").fill(ADA)
        page.get_by_label("Password").press_sequentially("short")
        check("signup: a short password shows the length rule unmet",
              "unmet" in (page.locator('[data-rule="length"]').get_attribute("class") or ""))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("End")
        check("signup: a long enough password shows it met",
              "met" in (page.locator('[data-rule="length"]').get_attribute("class") or "").split())
        page.get_by_label("Name (optional)").fill(XSS)
        page.get_by_role("button", name="Create the account").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
        check("signup: the address is shown as text", page.locator("#done-email").inner_text() == ADA)
        audit(page, "signup-done")

        # A weak password gets the server's words beside the field.
        weak = context().new_page()
        weak.goto(f"{URL}/signup")
        weak.get_by_label("Email").fill(f"weak.{RUN}@example.com")
        weak.get_by_label("Password").fill("password1")
        weak.get_by_role("button", name="Create the account").click()
        expect(weak.locator("#password-error")).to_contain_text("too easy to guess")
        check("signup: the weak password's field is marked invalid",
              weak.get_by_label("Password").get_attribute("aria-invalid") == "true")
        weak.context.close()

        # The welcome mail's link opens the confirmation page.
        page.goto(link(ADA, "verify-email"))
        check("verify: the token leaves the address bar", "#token" not in page.url)
        audit(page, "verify-email")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Confirm the address").click()
        expect(page.get_by_role("heading", name="Your address is confirmed")).to_be_visible()

        # Sign in; the account page shows the profile, the XSS name as text.
        page.goto(f"{URL}/login")
        audit(page, "login")
        page.get_by_label("Email").fill(ADA)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{URL}/account")
        expect(page.locator("#p-email")).to_have_text(ADA)
        expect(page.locator("#p-verified")).to_have_text("yes")
        check("account: the name is kept as typed, as text", page.get_by_label("Name", exact=True).input_value() == XSS)
        check("account: no element came from the name", page.locator("img:not(#avatar-img)").count() == 0)
        cookies = {c["name"]: c for c in first.cookies()}
        refresh = cookies.get("up_refresh", {})
        check("account: the refresh token is an HttpOnly, SameSite=Strict cookie of the refresh route",
              refresh.get("httpOnly") and refresh.get("sameSite") == "Strict"
              and refresh.get("path") == "/auth/refresh" and refresh.get("secure"), refresh)
        check("account: nothing in localStorage or sessionStorage",
              page.evaluate("localStorage.length + sessionStorage.length") == 0)
        audit(page, "account")

        # Edit the profile.
        page.get_by_label("Surname").fill("Lovelace")
        page.get_by_role("button", name="Save the profile").click()
        expect(page.locator("#profile-status")).to_have_text("Saved.")

        # A concurrent edit elsewhere: the page says so and shows the newer one.
        status, tokens = api("POST", "/auth/login", {"email": ADA, "password": PASSWORD})
        api_token = tokens["access_token"]
        req = urllib.request.Request(URL + "/users/me", data=json.dumps({"surname": "Byron"}).encode(), method="PATCH")
        req.add_header("content-type", "application/json")
        req.add_header("authorization", f"Bearer {api_token}")
        urllib.request.urlopen(req).read()
        page.get_by_label("Surname").fill("King")
        page.get_by_role("button", name="Save the profile").click()
        expect(page.locator("#profile-form-error")).to_contain_text("changed elsewhere")
        expect(page.get_by_label("Surname")).to_have_value("Byron")

        # A picture: uploaded over the presigned PUT with a progress bar, then shown.
        picture = OUT / "picture.png"
        picture.write_bytes(png(200, 150))
        page.get_by_label("A new picture").set_input_files(str(picture))
        page.get_by_role("button", name="Upload the picture").click()
        expect(page.locator("#avatar-status")).to_have_text("Your new picture is in place.", timeout=20000)
        expect(page.locator("#avatar-img")).to_be_visible()
        check("avatar: the picture loads (128 px)",
              page.evaluate("document.getElementById('avatar-img').naturalWidth") == 128)
        # Not an image: the processor's reason, beside the field.
        fake = OUT / "not-a-picture.png"
        fake.write_bytes(b"<html><script>alert(1)</script></html>")
        page.get_by_label("A new picture").set_input_files(str(fake))
        page.get_by_role("button", name="Upload the picture").click()
        expect(page.locator("#file-error")).to_be_visible(timeout=20000)
        audit(page, "avatar")
        # Removed: gone from the page, and the API says there is none.
        page.get_by_role("button", name="Remove the picture").click()
        expect(page.locator("#avatar-status")).to_have_text("Picture removed.")
        expect(page.locator("#avatar-none")).to_be_visible()
        check("avatar: the removed picture is not shown", page.locator("#avatar-img").is_hidden())

        # The profile PDF: made, then downloaded.
        page.get_by_role("button", name="Make the PDF").click()
        expect(page.locator("#pdf-status")).to_have_text("Your PDF is ready.")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download the PDF").click()
        pdf = pathlib.Path(download.value.path()).read_bytes()
        check("pdf: the download is a PDF", pdf.startswith(b"%PDF-"), pdf[:16])
        page.get_by_role("button", name="Make the PDF").click()
        expect(page.locator("#pdf-status")).to_have_text("Your PDF is up to date.")

        # Export: a JSON file with the profile.
        with page.expect_download() as download:
            page.get_by_role("button", name="Download my data (JSON)").click()
        exported = json.loads(pathlib.Path(download.value.path()).read_text())
        check("export: the file holds the profile", json.dumps(exported).count(ADA) >= 1)

        # A second browser signs in; the first sees two sessions and ends it.
        second = context()
        other = second.new_page()
        watch(other, "second browser")
        sign_in(other, ADA, PASSWORD)
        page.reload()
        expect(page.locator("#sessions li")).to_have_count(3)  # this one, the API's, the other browser's
        expect(page.locator("#sessions li strong")).to_have_text(" (this one)")
        audit(page, "sessions")
        page.locator("#sessions li").filter(has_text="Chrome").filter(has_not=page.locator("strong")).first \
            .get_by_role("button").click()
        expect(page.locator("#sessions-status")).to_have_text("Signed out.")
        expect(page.locator("#sessions li")).to_have_count(2)
        other.reload()
        other.wait_for_url(re.compile(r"/login\?signed-out=1$"))
        check("second browser: its ended session sends it to sign in",
              other.locator("#form-error").inner_text() == "You were signed out. Sign in again.")
        second.close()

        # Two tabs load at once: both refresh from the one cookie (a token
        # works once); neither is sent to sign in.
        tab = first.new_page()
        watch(tab, "second tab")
        tab.goto(f"{URL}/account", wait_until="commit")
        page.reload(wait_until="commit")
        expect(tab.locator("#p-email")).to_have_text(ADA)
        expect(page.locator("#p-email")).to_have_text(ADA)
        tab.close()

        # Change the password from the account page.
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change the password").click()
        expect(page.locator("#password-status")).to_contain_text("Changed.")

        # Sign out; the refresh cookie is gone.
        page.get_by_role("button", name="Sign out", exact=True).click()
        page.wait_for_url(f"{URL}/login")
        check("sign out: the refresh cookie is removed",
              "up_refresh" not in {c["name"] for c in first.cookies()})
        page.goto(f"{URL}/account")
        page.wait_for_url(re.compile(r"/login\?signed-out=1$"))

        # Forgot the password: the same answer, a mailed link, a new one.
        sent = len(mails())
        page.goto(f"{URL}/forgot-password")
        audit(page, "forgot-password")
        page.get_by_label("Email").fill(ADA)
        page.get_by_role("button", name="Mail me a link").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
        page.goto(link(ADA, "reset-password", after=sent))
        audit(page, "reset-password")
        page.get_by_label("New password").fill(LATER_PASSWORD)
        page.get_by_role("button", name="Set the password").click()
        expect(page.get_by_role("heading", name="Your password is changed")).to_be_visible()
        # The used link does not work twice (a new document: the same URL
        # but its fragment would not load the page again).
        page.goto("about:blank")
        page.goto(link(ADA, "reset-password", after=sent))
        page.get_by_label("New password").fill("another granite ocean 11")
        page.get_by_role("button", name="Set the password").click()
        expect(page.locator("#form-error")).to_be_visible()

        # An unknown address gets the same answer from the API, so the same page.
        known = api("POST", "/auth/password-reset", {"email": ADA})
        unknown = api("POST", "/auth/password-reset", {"email": f"nobody.{RUN}@example.com"})
        check("forgot password: the same status and body for a known and an unknown address",
              known == unknown, (known, unknown))
        page.goto(f"{URL}/forgot-password")
        page.get_by_label("Email").fill(f"nobody.{RUN}@example.com")
        page.get_by_role("button", name="Mail me a link").click()
        expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

        # Sign in with the new password; the old one no longer works.
        sign_in(page, ADA, NEW_PASSWORD, lands=False)
        expect(page.locator("#form-error")).to_have_text("Incorrect email or password.")
        page.get_by_label("Password").fill(LATER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{URL}/account")
        expect(page.locator("#p-email")).to_have_text(ADA)

        # A new address: mailed, confirmed with the password from the link's page.
        ada2 = f"ada.new.{RUN}@example.com"
        page.get_by_label("New address").fill(ada2)
        page.locator("#email_password").fill(LATER_PASSWORD)
        page.get_by_role("button", name="Change the address").click()
        expect(page.locator("#email-status")).to_contain_text(ada2)
        page.goto(link(ada2, "confirm-email"))
        audit(page, "confirm-email")
        page.get_by_label("Password").fill(LATER_PASSWORD)
        page.get_by_role("button", name="Move the account here").click()
        expect(page.get_by_role("heading", name="Your account has its new address")).to_be_visible()
        sign_in(page, ada2, LATER_PASSWORD)
        expect(page.locator("#p-email")).to_have_text(ada2)

        # Another user deletes their account from the page.
        bob = f"bob.{RUN}@example.com"
        api("POST", "/auth/signup", {"email": bob, "password": PASSWORD})
        third = context()
        gone = third.new_page()
        watch(gone, "third browser")
        sign_in(gone, bob, PASSWORD)
        gone.locator("#delete_password").fill("not the password at all")
        gone.get_by_label("I understand").check()
        gone.get_by_role("button", name="Delete my account").click()
        expect(gone.locator("#delete_password-error")).to_have_text("is incorrect")
        gone.locator("#delete_password").fill(PASSWORD)
        gone.get_by_role("button", name="Delete my account").click()
        gone.wait_for_url(re.compile(r"/\?deleted=1$"))
        expect(gone.locator("#notice")).to_contain_text("Your account is deleted")
        audit(gone, "deleted")
        status, _ = api("POST", "/auth/login", {"email": bob, "password": PASSWORD})
        check("deleted: the account no longer signs in", status == 401, status)
        third.close()

        # A non-admin is told the console is not theirs (the API refuses it anyway).
        page.goto(f"{URL}/admin")
        expect(page.locator("#not-admin")).to_be_visible()
        check("admin console: hidden from a user", page.locator("#console").is_hidden())
        page.goto(f"{URL}/account")
        expect(page.locator("#p-email")).to_have_text(ada2)

        # An admin, in another browser, uses the console.
        api("POST", "/auth/signup", {"email": ROOT, "password": PASSWORD})
        api("POST", "/auth/verify-email", {"token": link(ROOT, "verify-email").split("#token=")[1],
                                           "password": PASSWORD})
        carol = f"carol.{RUN}@example.com"
        api("POST", "/auth/signup", {"email": carol, "password": PASSWORD, "name": XSS})
        ops = context()
        console = ops.new_page()
        watch(console, "admin browser")
        sign_in(console, ROOT, PASSWORD)
        console.get_by_role("link", name="The administration console").click()
        console.wait_for_url(f"{URL}/admin")
        expect(console.locator("#dead-letters")).to_have_text("0")
        expect(console.locator("#audit li").first).to_be_visible()
        audit(console, "admin")
        # Search: an address prefix finds one user; the XSS name stays text.
        console.get_by_label("Email starts with").fill(f"carol.{RUN}")
        console.get_by_role("button", name="Search").click()
        expect(console.locator("#users tbody tr")).to_have_count(1)
        expect(console.locator("#users tbody tr td").nth(1)).to_have_text(XSS)
        check("admin console: no element came from a name",
              console.locator("#users img").count() == 0)
        console.get_by_role("button", name=f"Open {carol}").click()
        console.get_by_label("Role").select_option("admin")
        console.get_by_role("button", name="Save the role").click()
        expect(console.locator("#user-status")).to_have_text("Role saved.")
        expect(console.locator("#users tbody tr td").nth(2)).to_have_text("admin")
        # Paging: 21 users under one prefix fill a page and a bit.
        made = [api("POST", "/auth/signup", {"email": f"p.{RUN}.{n:02}@example.com", "password": PASSWORD})[0]
                for n in range(21)]
        check("admin console: 21 users to page through", made == [201] * 21, made)
        console.get_by_label("Email starts with").fill(f"p.{RUN}.")
        console.get_by_role("button", name="Search").click()
        expect(console.locator("#users tbody tr")).to_have_count(20)
        console.get_by_role("button", name="Next page").click()
        expect(console.locator("#users tbody tr")).to_have_count(21)
        expect(console.locator("#users tbody tr").last).to_contain_text(f"p.{RUN}.20@example.com")
        check("admin console: no next page after the last", console.locator("#users-more").is_hidden())
        # Deactivated users only: none yet among these.
        console.get_by_label("Which").select_option("false")
        console.get_by_label("Email starts with").fill("")
        console.get_by_role("button", name="Search").click()
        expect(console.locator("#users-empty")).to_be_visible()
        # Deactivate Ada from her page in the console; her trail shows it.
        console.get_by_label("Which").select_option("")
        console.get_by_label("Email starts with").fill(ada2)
        console.get_by_role("button", name="Search").click()
        console.get_by_role("button", name=f"Open {ada2}").click()
        expect(console.locator("#user-audit li").first).to_be_visible()
        console.get_by_role("button", name="Deactivate").click()
        expect(console.locator("#user-status")).to_contain_text("Deactivated")
        expect(console.locator("#u-state")).to_have_text("deactivated")
        expect(console.locator("#user-audit")).to_contain_text("user.deactivated")
        audit(console, "admin-user")
        # The dead letters and the posts cache.
        console.get_by_role("button", name="Send them back to the queue").click()
        expect(console.locator("#events-status")).to_have_text("0 sent back to the queue.")
        console.get_by_role("button", name="Purge the posts cache").click()
        expect(console.locator("#posts-status")).to_contain_text("Purged")

        # Her open page is signed out on its next call.
        page.get_by_label("Surname").fill("Gone")
        page.get_by_role("button", name="Save the profile").click()
        page.wait_for_url(re.compile(r"/login\?signed-out=1$"))
        expect(page.locator("#form-error")).to_have_text("You were signed out. Sign in again.")
        # Activated again from the console; she signs in.
        console.get_by_role("button", name="Activate").click()
        expect(console.locator("#u-state")).to_have_text("active")
        sign_in(page, ada2, LATER_PASSWORD)

        # The console deletes an account.
        console.get_by_label("Email starts with").fill(carol)
        console.get_by_role("button", name="Search").click()
        console.get_by_role("button", name=f"Open {carol}").click()
        console.get_by_role("button", name="Delete the account").click()
        expect(console.locator("#remove-form-error")).to_have_text("Tick the box to confirm.")
        console.get_by_label("Delete this account and everything of it").check()
        console.get_by_role("button", name="Delete the account").click()
        expect(console.locator("#user-status")).to_have_text("Deleted.")
        expect(console.locator("#users-empty")).to_be_visible()
        ops.close()

        # By keyboard alone: Tab to the fields, type, Enter signs in.
        keys = context()
        typed = keys.new_page()
        watch(typed, "keyboard browser")
        typed.goto(f"{URL}/login")
        for _ in range(12):
            typed.keyboard.press("Tab")
            if typed.evaluate("document.activeElement.id") == "email":
                break
        check("keyboard: Tab reaches the email field", typed.evaluate("document.activeElement.id") == "email")
        check("keyboard: the focused field shows an outline",
              typed.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid")
        typed.keyboard.type(ROOT)
        typed.keyboard.press("Tab")
        check("keyboard: the next Tab is the password",
              typed.evaluate("document.activeElement.id") == "password")
        typed.keyboard.type(PASSWORD)
        typed.keyboard.press("Enter")
        typed.wait_for_url(f"{URL}/account")
        keys.close()

        # Strangers lock an account for new devices: its owner, on a new
        # browser, is told so and gets in by the mailed link.
        dave = f"dave.{RUN}@example.com"
        api("POST", "/auth/signup", {"email": dave, "password": PASSWORD})
        api("POST", "/auth/verify-email", {"token": link(dave, "verify-email").split("#token=")[1],
                                           "password": PASSWORD})
        statuses = [stranger_login(dave, n) for n in range(10, 40)]
        check("lockout: strangers' guesses end in 429", 429 in statuses, statuses)
        fresh = context()
        owner = fresh.new_page()
        watch(owner, "owner's new browser")
        sign_in(owner, dave, PASSWORD, lands=False)
        expect(owner.locator("#form-error")).to_contain_text("locked for devices it does not know")
        owner.goto(link(dave, "sign-in", after=0))
        audit(owner, "sign-in")
        owner.get_by_role("button", name="Sign in on this device").click()
        owner.wait_for_url(f"{URL}/account")
        expect(owner.locator("#p-email")).to_have_text(dave)
        # This browser is trusted from now on: its device cookie gets it in
        # while strangers are still locked out.
        owner.get_by_role("button", name="Sign out", exact=True).click()
        owner.wait_for_url(f"{URL}/login")
        sign_in(owner, dave, PASSWORD)
        # Sign out everywhere: every session ends, an API client's too.
        # (The API client presents this browser's device token: strangers
        # still have the account locked for unknown devices.)
        device = next(c["value"] for c in fresh.cookies() if c["name"] == "up_device")
        status, api_session = api("POST", "/auth/login", {"email": dave, "password": PASSWORD,
                                                          "device_token": device})
        check("lockout: the trusted device's token signs an API client in", status == 200, status)
        owner.get_by_role("button", name="Sign out everywhere").click()
        owner.wait_for_url(f"{URL}/login")
        status, _ = api("GET", "/users/me", token=api_session["access_token"])
        check("sign out everywhere: the API's session is over too", status in (401, 403), status)
        check("lockout: strangers are still locked out", stranger_login(dave, 41) == 429)
        fresh.close()

        # Someone else signed up with your address: confirm it with a new password.
        erin = f"erin.{RUN}@example.com"
        api("POST", "/auth/signup", {"email": erin, "password": "squatter chose this 12"})
        mine = context()
        claim = mine.new_page()
        watch(claim, "claiming browser")
        claim.goto(link(erin, "verify-email"))
        claim.get_by_label("I did not sign up, or forgot it: set a new one").check()
        check("verify: the password field gives way to the new one",
              claim.locator("#password").is_hidden() and claim.locator("#new_password").is_visible())
        audit(claim, "verify-email-new-password")
        claim.get_by_label("New password").fill(NEW_PASSWORD)
        claim.get_by_role("button", name="Confirm the address").click()
        expect(claim.get_by_role("heading", name="Your address is confirmed")).to_be_visible()
        status, _ = api("POST", "/auth/login", {"email": erin, "password": "squatter chose this 12"})
        check("verify: the squatter's password no longer works", status == 401, status)
        status, _ = api("POST", "/auth/login", {"email": erin, "password": NEW_PASSWORD})
        check("verify: the new one does", status == 200, status)
        mine.close()

        # The pages that take a link say when the token is missing.
        for path in ("verify-email", "reset-password", "confirm-email", "revert-email", "sign-in"):
            page.goto(f"{URL}/{path}")
            expect(page.locator("#missing")).to_be_visible()
            audit(page, path + "-no-token")
        page.goto(f"{URL}/")
        audit(page, "home")
        # The reference page shares the origin (and so the cookie's trust):
        # it has a policy of its own, and renders within it.
        page.goto(f"{URL}/docs")
        expect(page.get_by_text("User platform (0.1.0)").first).to_be_visible(timeout=20000)
        # Its one blocked request is Redoc's own logo from its CDN: the
        # policy keeps the page from calling a third party.
        violations = [v for v in page.evaluate("window.__violations") if "cdn.redoc.ly" not in v]
        check("docs: Redoc renders within its policy", violations == [], violations)

        browser.close()
    print(f"pages: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
