"""Open redirects: no ``next`` a link carries sends a person off the site after they sign
in, sign out, sign up or confirm their password, in allauth's flows or in Django admin's.

aiportal's own views redirect only to URLs they build (``reverse``), never to one from the
request; the redirects that take one are allauth's and admin's, checked here with every
spelling of "another site" that one browser or another reads as such.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

EVIL = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "https:evil.example",
    "http:/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/%09/evil.example",
    "/%2F/evil.example",
    "%2F%2Fevil.example",
    "%252F%252Fevil.example",
    " //evil.example",
    "\x00//evil.example",
    "javascript:alert(document.domain)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://testserver@evil.example",
    "https://evil.example#@testserver",
    "https://testserver.evil.example",
    "/\r\nLocation: https://evil.example",
]


def _on_site(location: str) -> bool:
    """Where a browser would go: a path (absolute or relative) on this site, or a full URL
    naming it. Browsers strip surrounding blanks and read "\\" as "/", so those are off."""
    if location != location.strip() or any(ch in location for ch in "\r\n\x00\t\\"):
        return False
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        return parts.scheme in {"http", "https"} and parts.netloc == "testserver"
    return not location.startswith("//")


def _where(answer) -> str:
    if answer.status_code == 400 and b"NUL" in answer.content:
        return "/"  # "\x00//evil": refused at the door (common/text.py), sent nowhere
    assert answer.status_code in {301, 302, 303}, (answer.status_code, answer.content[:200])
    return answer["Location"]


def _query(value: str) -> str:
    return "?next=" + quote(value, safe="")


def test_signing_in_never_leaves_the_site(owner):
    off = []
    for target in EVIL:
        client = Client()
        answer = client.post(
            "/accounts/login/" + _query(target),
            {"login": owner.email, "password": PASSWORD, "next": target},
        )
        location = _where(answer)
        if not _on_site(location):
            off.append((target, location))
        # Already signed in, the sign-in page sends the person on: on the site too.
        again = client.get("/accounts/login/" + _query(target))
        if again.status_code in {301, 302, 303} and not _on_site(again["Location"]):
            off.append(("again", target, again["Location"]))
    assert off == []


def test_signing_out_never_leaves_the_site(owner):
    off = []
    for target in EVIL:
        client = Client()
        client.force_login(owner)
        location = _where(client.post("/accounts/logout/" + _query(target), {"next": target}))
        if not _on_site(location):
            off.append((target, location))
    assert off == []


def test_signing_up_never_leaves_the_site(settings):
    off = []
    for number, target in enumerate(EVIL):
        answer = Client().post(
            "/accounts/signup/" + _query(target),
            {
                "email": f"new{number}@example.com",
                "password1": PASSWORD,
                "password2": PASSWORD,
                "next": target,
            },
        )
        if answer.status_code in {301, 302, 303} and not _on_site(answer["Location"]):
            off.append((target, answer["Location"]))
    assert off == []


def test_confirming_the_password_never_leaves_the_site(owner):
    off = []
    client = Client()
    client.force_login(owner)
    for target in EVIL:
        answer = client.post(
            "/accounts/reauthenticate/" + _query(target), {"password": PASSWORD, "next": target}
        )
        if answer.status_code in {301, 302, 303} and not _on_site(answer["Location"]):
            off.append((target, answer["Location"]))
    assert off == []


def test_admin_sign_in_and_out_never_leave_the_site(make_user):
    staff = make_user("staff@example.com", is_staff=True)
    off = []
    for target in EVIL:
        client = Client()
        # The admin's sign-in sends people to the product's, carrying next only when it is
        # on the site; signing in there lands where it says.
        first = client.get("/admin/login/" + _query(target))
        if first.status_code == 400:  # a NUL: refused at the door, nowhere to follow
            assert b"NUL" in first.content
            continue
        to_sign_in = _where(first)
        if not _on_site(to_sign_in):
            off.append(("to sign-in", target, to_sign_in))
        next_page = parse_qs(urlsplit(to_sign_in).query).get("next", [""])[0]
        answer = client.post(
            to_sign_in, {"login": staff.email, "password": PASSWORD, "next": next_page}
        )
        location = _where(answer)
        if not _on_site(location):
            off.append(("login", target, location))
        out = client.post("/admin/logout/" + _query(target), {"next": target})
        if out.status_code in {301, 302, 303} and not _on_site(out["Location"]):
            off.append(("logout", target, out["Location"]))
    assert off == []


def test_a_signed_out_visit_carries_only_the_path_it_asked_for():
    # login_required's own redirect: next is the page asked for, never something else.
    for path in ("/datasets/", "/c/1/", "/settings/keys/"):
        location = _where(Client().get(path))
        assert location.startswith("/accounts/login/?next=")
        assert _on_site(location)


def test_the_check_itself_tells_off_site_from_on_site():
    # The helper above decides every assertion in this file: it must refuse each payload.
    # (Percent-encoded payloads are relative paths as they stand: a browser resolves
    # "%2F%2Fevil.example" under the current folder. They are there for the decoders.)
    assert not any(_on_site(target) for target in EVIL if "%" not in target)
    assert all(_on_site(path) for path in ("/", "/datasets/", "http://testserver/c/1/"))
