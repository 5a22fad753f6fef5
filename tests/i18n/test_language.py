"""The interface language: the browser's (Accept-Language) for everyone, the one a signed-in
person chose on Settings → Preferences over it, on every page, in <html lang>, and in the chat
socket's refusals."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client
from django.urls import reverse

from accounts.models import Preferences
from accounts.preferences import preferences_update
from tests.chat.conftest import (  # noqa: F401 (a fixture: it ends the sockets' connections)
    ORIGIN,
    _no_idle_sessions_left,
    send_frame,
    session_cookie,
)

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}

# A page, and a text on it in English and in French.
PAGES = [
    ("chat:index", "New chat", "Nouvelle discussion"),
    ("settings:index", "Signed in as", "Connecté en tant que"),
    ("apikeys:list", "Create a key", "Créer une clé"),
    ("datasets:list", "Create a dataset", "Créer un jeu de données"),
]


def _prefer(user, language: str) -> None:
    preferences_update(
        user=user, default_model="", custom_instructions="", theme="system", language=language
    )


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_french_browser_gets_the_sign_in_page_in_french():
    page = Client().get(reverse("account_login"), **FRENCH)
    html = page.content.decode()
    assert '<html lang="fr"' in html
    assert "Se connecter" in html and "Sign in" not in html
    assert page["Content-Language"] == "fr"
    english = Client().get(reverse("account_login"), **ENGLISH).content.decode()
    assert '<html lang="en"' in english and "Sign in" in english


@pytest.mark.django_db
def test_a_language_the_site_does_not_offer_falls_back_to_english():
    html = Client().get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="de-DE").content.decode()
    assert '<html lang="en"' in html and "Sign in" in html


@pytest.mark.django_db
def test_the_error_pages_follow_the_browser():
    page = Client().get("/no-such-page/", **FRENCH)
    assert page.status_code == 404
    html = page.content.decode()
    assert '<html lang="fr"' in html and "Page introuvable" in html


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "english", "french"), PAGES)
def test_the_preference_wins_over_the_browser(owner, name, english, french):
    client = _client(owner)
    # Nothing chosen: the browser's language.
    assert french in client.get(reverse(name), **FRENCH).content.decode()

    _prefer(owner, "en")
    html = client.get(reverse(name), **FRENCH).content.decode()
    assert '<html lang="en"' in html and english in html and french not in html

    _prefer(owner, "fr")
    html = client.get(reverse(name), **ENGLISH).content.decode()
    assert '<html lang="fr"' in html and french in html and english not in html


@pytest.mark.django_db
def test_the_preferences_page_saves_the_language_and_refuses_others(owner):
    client = _client(owner)
    page = reverse("settings:preferences")
    form = {"default_model": "", "custom_instructions": "", "theme": "system"}
    html = client.get(page, **ENGLISH).content.decode()
    assert 'name="language"' in html and "Français" in html and "Like the browser" in html

    assert client.post(page, {**form, "language": "fr"}, **ENGLISH).status_code == 302
    assert Preferences.objects.get(user=owner).language == "fr"
    saved = client.get(page, **ENGLISH).content.decode()
    assert "Vos préférences sont enregistrées." in saved
    assert '<html lang="fr"' in saved

    assert client.post(page, {**form, "language": "xx"}, **ENGLISH).status_code == 400
    assert client.post(page, {**form, "language": ""}, **ENGLISH).status_code == 302
    assert Preferences.objects.get(user=owner).language == ""
    assert '<html lang="en"' in client.get(page, **ENGLISH).content.decode()


@pytest.mark.django_db(transaction=True)
async def test_the_preference_applies_under_asgi_too(owner):
    """Daphne runs the middleware's async path: the same answer as the sync one."""
    await Preferences.objects.acreate(user=owner, language="fr")
    client = AsyncClient(headers={"accept-language": "en"})
    await client.aforce_login(owner)
    html = (await client.get(reverse("settings:index"))).content.decode()
    assert '<html lang="fr"' in html and "Connecté en tant que" in html


async def _too_long_detail(user, *, accept_language: str | None) -> str:
    from aiportal.asgi import application

    headers = [(b"origin", ORIGIN), (b"cookie", f"sessionid={await session_cookie(user)}".encode())]
    if accept_language:
        headers.append((b"accept-language", accept_language.encode()))
    comm = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    try:
        await comm.send_json_to(send_frame("x" * 101, client_id="c1"))
        frame = await comm.receive_json_from(timeout=10)
    finally:
        await comm.disconnect()
    assert frame["code"] == "too_long"
    return frame["detail"]


@pytest.mark.django_db(transaction=True)
async def test_the_chat_socket_refuses_in_the_persons_language(owner, settings):
    settings.AIPORTAL_MAX_MESSAGE_CHARS = 100
    english = await _too_long_detail(owner, accept_language="en")
    assert english == "A message may be at most 100 characters long."
    assert await _too_long_detail(owner, accept_language="fr-FR,fr") == (
        "Un message peut compter au plus 100 caractères."
    )
    await Preferences.objects.acreate(user=owner, language="fr")
    assert await _too_long_detail(owner, accept_language="en") == (
        "Un message peut compter au plus 100 caractères."
    )


@pytest.mark.django_db
def test_the_approval_mail_is_in_the_language_the_person_chose(
    make_user, mailoutbox, django_capture_on_commit_callbacks
):
    from accounts.models import User
    from accounts.services import user_status_set

    french, english = make_user("fr@example.com"), make_user("en@example.com")
    User.objects.filter(pk__in=[french.pk, english.pk]).update(status=User.Status.PENDING)
    french.refresh_from_db()
    english.refresh_from_db()
    _prefer(french, "fr")
    with django_capture_on_commit_callbacks(execute=True):
        user_status_set(user=french, status=User.Status.ACTIVE, by=None)
        user_status_set(user=english, status=User.Status.ACTIVE, by=None)
    subjects = {mail.to[0]: mail.subject for mail in mailoutbox}
    assert subjects == {
        "fr@example.com": "Votre compte aiportal est approuvé",
        "en@example.com": "Your aiportal account is approved",
    }
