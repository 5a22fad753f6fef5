"""The chat's script-made texts follow the browser's language (Accept-Language, which
Playwright's ``locale`` sets): French for a French browser, English for an English one. And
screenshots of the French chat, desktop and phone, light and dark, to look at: the French
words are longer, and must not overflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.chat.test_browser import sign_in
from tests.chat.test_browser_chrome import conversation_with

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = Path("/work/shots/h16-i18n-js")
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
CODE_ANSWER = "Voici :\n\n```python\nprint('bonjour')\n```\n\nThe last answer."


@pytest.fixture
def browser_in(chromium, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # as tests/conftest.py's page
    contexts = []

    def open_page(locale: str, *, viewport=DESKTOP, scheme: str = "light"):
        context = chromium.new_context(locale=locale, viewport=viewport, color_scheme=scheme)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_a_french_browser_gets_the_chat_s_script_texts_in_french(browser_in, daphne_url, owner):
    conversation = conversation_with(owner, "Bonjour", CODE_ANSWER)
    page = browser_in("fr-FR")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne_url)
    sign_in(page, daphne_url, owner.email)
    expect(page.locator("#socket-status")).to_have_text("Connecté")
    expect(page.locator("#theme-toggle")).to_have_attribute(
        "aria-label", "Utiliser le thème sombre"
    )
    expect(page.locator("#composer-input")).to_have_attribute("placeholder", "Écrire à aiportal")

    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    expect(page.locator("#socket-status")).to_have_text("Connecté")
    answer = page.locator(".message.assistant")
    expect(answer.get_by_role("button", name="Copier le code")).to_be_visible()
    expect(answer.get_by_role("button", name="Copier le message")).to_have_text("Copier")
    expect(answer.get_by_role("button", name="Régénérer la réponse")).to_be_visible()
    today = "Aujourd\u2019hui"  # with a typographic apostrophe
    expect(page.locator(".conversation-group h2").first).to_have_text(today)
    expect(page.get_by_role("button", name="Renommer « Bonjour »")).to_have_count(1)

    answer.get_by_role("button", name="Copier le code").click()
    expect(answer.locator(".copy-code")).to_have_text("Copié")
    page.keyboard.press("Control+Shift+C")
    expect(page.locator("#shortcut-status")).to_have_text("Dernière réponse copiée.")


def test_an_english_browser_gets_them_in_english(browser_in, daphne_url, owner):
    conversation = conversation_with(owner, "Hello", CODE_ANSWER)
    page = browser_in("en-US")
    sign_in(page, daphne_url, owner.email)
    expect(page.locator("#socket-status")).to_have_text("Connected")
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    answer = page.locator(".message.assistant")
    expect(answer.get_by_role("button", name="Copy code")).to_be_visible()
    expect(answer.get_by_role("button", name="Copy message")).to_have_text("Copy")
    expect(page.locator(".conversation-group h2").first).to_have_text("Today")
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-label", "Use the dark theme")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_french_chat_while_an_answer_streams_and_stalls(
    browser_in, daphne_url, owner, pause_next_answer, device, scheme
):
    conversation_with(owner, "Une conversation au titre assez long pour le tronquer", CODE_ANSWER)
    page = browser_in("fr-FR", viewport=DESKTOP if device == "desktop" else PHONE, scheme=scheme)
    sign_in(page, daphne_url, owner.email)
    name = f"{device}-{scheme}"
    # A pause long enough for the notice of a quiet answer (after 4 s) to show.
    pause_next_answer(tokens=20, seconds=7)
    page.get_by_role("textbox", name="Message").fill("Raconte une longue histoire.")
    page.keyboard.press("Enter")
    answer = page.locator(".message.assistant")
    expect(answer.locator(".waiting")).to_contain_text("Aucun nouveau texte depuis", timeout=10_000)
    expect(page.locator("#stop-button")).to_be_visible()
    shot(page, f"{name}-streaming")
    expect(answer.get_by_role("button", name="Copier le message")).to_be_visible(timeout=20_000)
    answer.locator(".answer-details summary").click()
    expect(answer.locator(".answer-details dt").first).to_have_text("Modèle")
    shot(page, f"{name}-answered")

    page.keyboard.press("Control+/")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    shot(page, f"{name}-shortcuts")
    page.keyboard.press("Escape")

    if device == "phone":
        page.locator("#sidebar-open").click()
    page.locator("#conversation-list li").first.hover()
    shot(page, f"{name}-sidebar")
    # Nothing in the sidebar or the header runs past the screen's edge.
    overflow = page.evaluate(
        """() => [...document.querySelectorAll('.sidebar *, .chat-header *, .message-tools *')]
            .filter((el) => el.getClientRects().length && el.getBoundingClientRect().right >
                    document.documentElement.clientWidth + 1)
            .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert overflow == []
