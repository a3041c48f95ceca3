"""The hosted pages' weight and time to interactive, in Debian's Chromium.

    python bench/pages.py URL MAIL_DIR [RUNS]

URL is a running local server (embedded) started with
`ADMIN_EMAILS=root@example.com`, MAIL_DIR its mail folder (bench/run.sh
starts the release build). For each page: the bytes it loads
(the document, the script, the style sheet: what the browser received, no
compression, as API Gateway HTTP APIs send them), and, over RUNS loads with
the browser's cache off, the median and the slowest of:
- **script ready**: navigation start to the end of DOMContentLoaded, when the
  deferred script has run and every form answers;
- **content shown** (account, admin): navigation start to the signed-in
  content on screen, after the refresh from the cookie and the API reads.
Our /docs (Redoc) is measured beside them for scale: the systems we replace
serve no pages of their own, only FastAPI's /docs (Swagger UI from a CDN,
which this machine cannot reach).
"""

import email
import email.policy
import json
import pathlib
import re
import statistics
import time
import sys
import urllib.request

from playwright.sync_api import sync_playwright

URL = sys.argv[1].rstrip("/")
MAIL_DIR = pathlib.Path(sys.argv[2])
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 15
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "copper kettle harbour 93"
STATIC = ["/", "/signup", "/login", "/forgot-password", "/reset-password", "/verify-email",
          "/confirm-email", "/revert-email", "/sign-in"]
CHROMIUM_VERSION = [""]
SIGNED_IN = {"/account": "#signed-in", "/admin": "#console"}


def post(path, body):
    req = urllib.request.Request(URL + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def verification_token(to):
    """The token of the newest verification link mailed to `to`."""
    for _ in range(100):
        for mail in sorted(MAIL_DIR.glob("*.eml"), reverse=True):
            msg = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
            text = msg.get_body(preferencelist=("plain",)).get_content()
            if to in str(msg["To"]):
                found = re.search(r"/verify-email#token=([A-Za-z0-9_-]+)", text)
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"no verification mail to {to}")


def measure(page, path, shown):
    page.goto(URL + path)
    if shown:
        page.wait_for_selector(shown, state="visible")
        content = page.evaluate("performance.now()")
    else:
        content = None
    timing = page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const all = [nav, ...performance.getEntriesByType('resource')];
        const own = all.filter(e => !e.name.includes('/auth/') && !e.name.includes('/users/')
                                   && !e.name.includes('/admin/'));
        return { ready: nav.domContentLoadedEventEnd, bytes: own.reduce((n, e) => n + e.encodedBodySize, 0),
                 files: own.length };
    }""")
    return timing["ready"], content, timing["bytes"], timing["files"]


def main():
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS, headless=True)
        CHROMIUM_VERSION[0] = browser.version
        ctx = browser.new_context()
        page = ctx.new_page()
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        for path in STATIC + ["/docs"]:
            samples = [measure(page, path, None) for _ in range(RUNS)]
            rows.append((path, samples))
        # The signed-in pages: an admin account, signed in by the page.
        post("/auth/signup", {"email": "root@example.com", "password": PASSWORD})
        verified = post("/auth/verify-email", {"token": verification_token("root@example.com"), "password": PASSWORD})
        assert verified == 204, verified
        page.goto(URL + "/login")
        page.get_by_label("Email").fill("root@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(URL + "/account")
        for path, shown in SIGNED_IN.items():
            samples = [measure(page, path, shown) for _ in range(RUNS)]
            rows.append((path, samples))
        browser.close()

    lines = [
        "## The hosted pages: weight and time to interactive",
        "",
        f"`bash bench/run.sh` (its pages step: `python bench/pages.py URL MAIL_DIR {RUNS}` against "
        f"`target/release/local`, embedded store) — {machine()}, {time.strftime('%Y-%m-%d')}; "
        f"Debian's Chromium {CHROMIUM_VERSION[0]} headless via Playwright, the cache off, {RUNS} loads of each page "
        "on loopback. *Bytes*: what the page loads besides its API calls (the document, `app.js`, "
        "`app.css`), uncompressed as API Gateway sends them. *Script ready*: navigation start to the end "
        "of DOMContentLoaded (the deferred script has run; every form answers). *Content shown*: to the "
        "signed-in content on screen, after the refresh from the cookie and the API reads. The systems "
        "we replace serve no pages; our `/docs` (Redoc) is measured beside them for scale.",
        "",
        "| page | bytes loaded (files) | script ready, median | slowest | content shown, median | slowest |",
        "|---|---|---|---|---|---|",
    ]
    for path, samples in rows:
        ready = [s[0] for s in samples]
        shown = [s[1] for s in samples if s[1] is not None]
        size, files = samples[-1][2], samples[-1][3]
        shown_cells = (f"{statistics.median(shown):.0f} ms | {max(shown):.0f} ms" if shown else "— | —")
        name = f"`{path}`" + (" (Redoc, for scale)" if path == "/docs" else "")
        lines.append(f"| {name} | {size / 1024:.1f} KiB ({files}) | {statistics.median(ready):.0f} ms | "
                     f"{max(ready):.0f} ms | {shown_cells} |")
    body = "\n".join(lines) + "\n"
    print(body)
    write_section("pages", body)


def machine():
    cpus = len(__import__("os").sched_getaffinity(0))
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
                 "unknown CPU")
    return f"{cpus} cores ({model}), release build"


def write_section(name, body):
    """Replaces the section `name` of BENCHMARKS.md, as bench/src/lib.rs does."""
    path = pathlib.Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
    current = path.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body}\n{end}"
    a, b = current.find(start), current.find(end)
    if 0 <= a < b:
        current = current[:a] + section + current[b + len(end):]
    else:
        current = current.rstrip() + "\n" + section + "\n"
    path.write_text(current)


if __name__ == "__main__":
    main()
