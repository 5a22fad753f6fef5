"""The scripts' translations (aiportal/js_catalogue.py): a page names the catalogue of its
language at a versioned address cached for a year, ahead of its own scripts; the catalogue
holds our strings only; jsi18n/ follows the browser's language and revalidates by ETag."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}
SCRIPT = re.compile(r'<script src="(/jsi18n/(\w+)/(\w+)\.js)" defer></script>')


def catalog(body: bytes) -> dict:
    """The translations in a catalogue script (Django's i18n_catalog.js puts them in
    ``const newcatalog = {...};``); an English catalogue has none."""
    match = re.search(r"const newcatalog = (\{.*?\});", body.decode(), re.S)
    return json.loads(match[1]) if match else {}


@pytest.fixture
def signed_in(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


def test_a_french_browser_gets_the_french_catalogue_before_the_chat_scripts(signed_in):
    page = signed_in.get("/", **FRENCH).content.decode()
    src, language, _ = SCRIPT.search(page).groups()
    assert language == "fr"
    # Deferred and first: it runs before every module script of the page.
    assert page.index(src) < page.index('type="module"')
    response = signed_in.get(src)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert catalog(response.content)["Connecting…"] == "Connexion…"
    assert catalog(response.content)["Copy code"] == "Copier le code"


def test_the_versioned_catalogue_is_cached_for_a_year(signed_in):
    src = SCRIPT.search(signed_in.get("/", **FRENCH).content.decode())[1]
    cache_control = signed_in.get(src)["Cache-Control"]
    assert "max-age=31536000" in cache_control
    assert "immutable" in cache_control
    assert "public" in cache_control


def test_an_english_page_loads_no_catalogue(signed_in):
    # English is the scripts' own language: static/common/i18n.js uses the text as written.
    page = signed_in.get("/", **ENGLISH).content.decode()
    assert "/jsi18n/" not in page
    assert 'type="module"' in page


def test_the_address_is_the_catalogue_s_digest(client):
    src, _, version = SCRIPT.search(
        client.get("/accounts/login/", **FRENCH).content.decode()
    ).groups()
    assert version == hashlib.sha256(client.get(src).content).hexdigest()[:16]


def test_an_old_version_is_sent_to_the_current_one_and_not_cached(client):
    response = client.get("/jsi18n/fr/0123456789abcdef.js")
    assert response.status_code == 302
    assert SCRIPT.search(f'<script src="{response["Location"]}" defer></script>')
    assert "no-store" in response["Cache-Control"]


def test_an_unknown_language_is_not_found(client):
    assert client.get("/jsi18n/xx/0123456789abcdef.js").status_code == 404


def test_the_catalogue_holds_our_strings_only(client):
    src = SCRIPT.search(client.get("/accounts/login/", **FRENCH).content.decode())[1]
    strings = catalog(client.get(src).content)
    assert "Connected" in strings
    # The admin's calendar widget's strings are its own catalogue's business, not every page's.
    assert "Available %s" not in strings
    assert "January" not in strings


def test_the_plain_address_follows_the_browser_and_revalidates(client):
    french = client.get("/jsi18n/", **FRENCH)
    assert catalog(french.content)["Offline"] == "Hors ligne"
    assert "Accept-Language" in french["Vary"]
    assert "no-cache" in french["Cache-Control"]
    again = client.get("/jsi18n/", HTTP_IF_NONE_MATCH=french["ETag"], **FRENCH)
    assert again.status_code == 304
    english = client.get("/jsi18n/", HTTP_IF_NONE_MATCH=french["ETag"], **ENGLISH)
    assert english.status_code == 200  # another language, another ETag
    assert "Offline" not in catalog(english.content)


def test_a_pending_account_still_gets_the_catalogue(make_user):
    from accounts.models import User

    person = make_user("pending@example.com")
    person.status = User.Status.PENDING
    person.save()
    client = Client()
    client.force_login(person)
    src = SCRIPT.search(client.get("/accounts/status/", **FRENCH).content.decode())[1]
    assert client.get(src).status_code == 200
    assert client.get("/jsi18n/", **FRENCH).status_code == 200


def test_the_catalogue_goes_out_compressed(client):
    src = SCRIPT.search(client.get("/accounts/login/", **FRENCH).content.decode())[1]
    plain = client.get(src)
    packed = client.get(src, HTTP_ACCEPT_ENCODING="gzip")
    assert packed["Content-Encoding"] == "gzip"
    assert len(packed.content) < len(plain.content) / 2


def test_the_page_shows_nothing_of_the_template_s_comments(signed_in):
    page = signed_in.get("/", **FRENCH).content.decode()
    assert "aiportal/js_catalogue.py" not in page
