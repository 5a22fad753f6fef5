"""The main pages every check walks (tests/checks): what they show is made once per test, and
each page says what must be on screen before it is looked at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from playwright.sync_api import Browser, BrowserContext, Page, expect

from assistants.services import assistant_create
from chat import services as chat_services
from datasets.services import dataset_create
from prompts.services import prompt_create
from tests.conftest import PASSWORD
from tests.datasets.test_browser_datasets import in_thread

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
THEMES = ("light", "dark")

ANSWER = (
    "Here is **a short answer** with a list:\n\n- one\n- two\n\n"
    "```python\nprint('hello')\n```\n\nAnd a [link](https://example.org/)."
)


@dataclass(frozen=True)
class Check:
    name: str
    path: str
    ready: str  # a selector that is visible once the page has rendered what it shows
    chat: bool = False  # the chat page: its socket must connect before it is looked at
    signed_in: bool = True


def site(owner) -> list[Check]:
    """A conversation with an answer, its share link and a dataset of ``owner``; the pages."""
    conversation = chat_services.conversation_create(user=owner, title="Trip planning notes")
    _, answer = chat_services.message_create_turn(
        conversation=conversation, parent=None, content="Plan a short trip", model=""
    )
    chat_services.message_finish(
        message_id=answer.pk, content=ANSWER, last_seq=1, status="complete"
    )
    token = chat_services.conversation_share_create(user=owner, id=conversation.pk)
    dataset = in_thread(dataset_create, user=owner, name="Team handbook", description="Notes")
    # The empty chat shows it in its picker.
    assistant = in_thread(
        assistant_create,
        user=owner,
        name="Release notes writer",
        icon="RN",
        colour="teal",
        description="Turns a list of changes into release notes in the house style.",
        starter_prompts=["Summarise these changes", "Write a headline for this release"],
    )
    prompt = in_thread(
        prompt_create,
        user=owner,
        title="Reply to a customer",
        command="reply",
        body="Reply to {{customer}} in {{language|English}}.",
        description="Polite and short",
    )
    return [
        Check("sign-in", "/accounts/login/", "#id_login", signed_in=False),
        Check("chat-empty", "/", "#assistant-picker .assistant-card", chat=True),
        Check(
            "chat-answer",
            f"/c/{conversation.pk}/",
            ".message.assistant .content strong",
            chat=True,
        ),
        Check("settings", "/settings/", "main h1"),
        Check("api-keys", "/settings/keys/", "main h1"),
        Check("sessions", "/accounts/sessions/", "h1"),
        Check("datasets", "/datasets/", "#dataset-list"),
        Check("dataset-detail", f"/datasets/{dataset.pk}/", "main h1"),
        Check("assistants", "/assistants/", "#assistant-list"),
        Check("assistant-detail", f"/assistants/{assistant.pk}/", "main h1"),
        Check("prompts", "/prompts/", "#own-prompts"),
        Check("prompt-edit", f"/prompts/{prompt.pk}/edit/", "#preview-variables li"),
        Check("share", f"/s/{token}/", ".message.assistant"),
        Check("not-found", "/no-such-page/", "body"),
    ]


def new_context(
    chromium: Browser,
    *,
    theme: str,
    viewport: dict[str, int],
    base_url: str,
    locale: str | None = None,
) -> BrowserContext:
    # bypass_csp: the checks inject axe-core as an inline script, which the site's CSP refuses.
    # locale: the browser's language (Accept-Language, navigator.language); None: Chromium's.
    options = {"locale": locale} if locale else {}
    context = chromium.new_context(
        viewport=viewport, color_scheme=theme, bypass_csp=True, base_url=base_url, **options
    )
    context.set_default_timeout(15_000)
    return context


def sign_in(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))


def visit(page: Page, check: Check) -> None:
    page.goto(check.path)
    page.wait_for_load_state("load")
    expect(page.locator(check.ready).first).to_be_visible()
    if check.chat:
        expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    # Web fonts and the theme's styles settle before anything is measured.
    page.evaluate("document.fonts.ready.then(() => true)")


def walk(
    chromium: Browser,
    checks: list[Check],
    *,
    theme: str,
    viewport: dict[str, int],
    base_url: str,
    email: str,
    locale: str | None = None,
) -> Iterator[tuple[Check, Page]]:
    """Each page, opened in ``theme`` at ``viewport``: signed out first, then signed in."""
    for signed_in in (False, True):
        context = new_context(
            chromium, theme=theme, viewport=viewport, base_url=base_url, locale=locale
        )
        try:
            page = context.new_page()
            if signed_in:
                sign_in(page, email)
            for check in checks:
                if check.signed_in == signed_in:
                    visit(page, check)
                    yield check, page
        finally:
            context.close()
