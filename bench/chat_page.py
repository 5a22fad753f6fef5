"""How fast the chat page opens for a heavy user, and what it makes the browser download.

    .venv/bin/python bench/chat_page.py [--conversations 1000] [--messages 2000] [--loads 5]
        [--locale fr-FR]

It creates a throwaway database (PostgreSQL when ``--database-url`` or DATABASE_URL points at
a server it may create databases on, else SQLite), a user with ``--conversations``
conversations, one of which holds ``--messages`` messages, serves the site with Daphne, and
opens the page in headless Chromium (Debian's, at AIPORTAL_CHROMIUM or /usr/bin/chromium):

- first render: from navigation start until the conversation's last message is on screen
  (the sidebar rendered too), for the long conversation and for the start page, median and
  worst of ``--loads`` loads with a warm cache;
- bytes: every static file the page loads, gzipped as a proxy would send them, split into the
  page's own JS + CSS and the libraries from the npm registry (static/vendor/);
- bytes transferred: a cold load (empty cache, signed in) of each page, every response's
  headers and body as they came over the wire (WhiteNoise sends its precompressed static
  files; the websocket is not counted), in KiB.

The issue's targets: first render under 1 s; the page's own JS + CSS under 150 KB gzipped;
under 250 KiB transferred for a cold load of the chat page.
"""

from __future__ import annotations

import argparse
import gzip
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gateway_overhead as harness  # noqa: E402  (its process and database helpers)

PASSWORD = secrets.token_urlsafe(16)
EMAIL = "pages@example.com"
TRANSFER_TARGET_KIB = 250


def populate(conversations: int, messages: int) -> int:
    """The user and their history, written in bulk. Returns the long conversation's id."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import user_create
    from chat.models import Conversation, Message

    user = user_create(email=EMAIL, password=PASSWORD)
    now = timezone.now()
    rows = [
        Conversation(owner=user, title=f"Conversation {n}: notes on topic {n % 37}")
        for n in range(conversations)
    ]
    Conversation.objects.bulk_create(rows, batch_size=1000)
    # Spread over months, so the sidebar has many day groups.
    for n, row in enumerate(Conversation.objects.filter(owner=user).order_by("id")):
        Conversation.objects.filter(pk=row.pk).update(updated_at=now - timedelta(hours=6 * n))
    long = Conversation.objects.filter(owner=user).order_by("id").first()
    Conversation.objects.filter(pk=long.pk).update(updated_at=now + timedelta(minutes=1))
    parent = None
    text = "A paragraph with **markdown**, `code` and a list:\n\n- one\n- two\n\n" * 3
    for n in range(messages):
        role = Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT
        parent = Message.objects.create(
            conversation=long, parent=parent, role=role, content=f"Message {n}. {text}"
        )
    return long.pk


def measure(page, url: str, last_text: str) -> float:
    page.goto(url)
    page.wait_for_function(
        """(text) => {
            const all = document.querySelectorAll('.message .content');
            const last = all[all.length - 1];
            return document.querySelector('#conversation-list li')
                && (!text || (last && last.textContent.includes(text)));
        }""",
        arg=last_text,
        timeout=60_000,
    )
    return page.evaluate("performance.now()")


def transferred(
    browser, storage_state: dict, url: str, last_text: str, locale: str
) -> tuple[float, int]:
    """KiB over the wire and the number of requests for a cold load of ``url``: a new context
    (empty cache) with the signed-in cookies, until the page has rendered (``measure``)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, storage_state=storage_state, locale=locale
    )
    finished = []
    context.on("requestfinished", lambda request: finished.append(request))
    page = context.new_page()
    measure(page, url, last_text)
    page.wait_for_load_state("networkidle")
    total = 0
    for request in finished:
        sizes = request.sizes()
        total += sizes["responseHeadersSize"] + sizes["responseBodySize"]
    context.close()
    return total / 1024, len(finished)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    # The browser's language: the French catalogue of the scripts weighs more than none.
    parser.add_argument("--locale", default="en-US")
    args = parser.parse_args()
    from urllib.parse import urlsplit, urlunsplit

    admin_url = args.database_url
    if admin_url.startswith("postgres"):
        admin_url = urlunsplit(urlsplit(admin_url)._replace(path="/postgres"))
    # The page's static files, collected as a deployment would (hashed names, a manifest).
    static_root = Path(harness.tempfile.mkdtemp(prefix="aiportal-bench-static-"))
    os.environ["AIPORTAL_STATIC_ROOT"] = str(static_root)
    harness.subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true"},
        check=True,
    )
    emulators, workers = harness.emulators_start(1, 200, 20)
    portal = harness.Portal(workers=workers, database_url=admin_url or None, redis_url=None)
    browser = None
    try:
        portal.start()
        started = time.perf_counter()
        long_id = populate(args.conversations, args.messages)
        print(
            f"# {args.conversations} conversations, one of {args.messages} messages, written in "
            f"{time.perf_counter() - started:.1f} s; database: "
            f"{'PostgreSQL' if portal.admin_url else 'SQLite'}"
        )
        from django.db import connection

        connection.close()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("AIPORTAL_CHROMIUM", "/usr/bin/chromium"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale=args.locale)
            statics: dict[str, bytes] = {}

            def keep(response) -> None:
                path = urlsplit(response.url).path
                if path.startswith("/static/") and response.ok:
                    statics[path] = response.body()

            page.on("response", keep)
            page.goto(f"{portal.url}/accounts/login/")
            page.fill("#id_login", EMAIL)
            page.fill("#id_password", PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_url(f"{portal.url}/")
            last = f"Message {args.messages - 1}."
            pages = {
                f"conversation of {args.messages} messages": (f"{portal.url}/c/{long_id}/", last),
                f"start page, {args.conversations} conversations": (f"{portal.url}/", ""),
            }
            print(f"\n{'page':<40} {'median':>8} {'worst':>8}  (first render, ms)")
            for name, (url, text) in pages.items():
                measure(page, url, text)  # warm: static files cached, connections open
                times = [measure(page, url, text) for _ in range(args.loads)]
                print(f"{name:<40} {statistics.median(times):8.0f} {max(times):8.0f}")
            own = {p: b for p, b in statics.items() if not p.startswith("/static/vendor/")}
            vendor = {p: b for p, b in statics.items() if p.startswith("/static/vendor/")}

            def gz(files: dict[str, bytes]) -> float:
                return sum(len(gzip.compress(body, 9)) for body in files.values()) / 1024

            code = {p: b for p, b in own.items() if p.endswith((".js", ".css"))}
            print(
                f"\nthe page's own JS + CSS: {len(code)} files, {gz(code):.1f} KB gzipped "
                f"(target < 150 KB)\nlibraries (static/vendor/): {len(vendor)} files, "
                f"{gz(vendor):.1f} KB gzipped"
            )
            print(f"\n{'bytes transferred, cold load':<40} {'KiB':>8} {'requests':>8}")
            state = page.context.storage_state()
            for name, (url, text) in pages.items():
                kib, count = transferred(browser, state, url, text, args.locale)
                verdict = "met" if kib < TRANSFER_TARGET_KIB else "NOT MET"
                print(
                    f"{name:<40} {kib:8.1f} {count:8d}  "
                    f"(target < {TRANSFER_TARGET_KIB} KiB: {verdict})"
                )
            browser.close()
    finally:
        portal.close()
        for process in emulators:
            harness.stop(process)
        harness.shutil.rmtree(static_root, ignore_errors=True)


if __name__ == "__main__":
    main()
