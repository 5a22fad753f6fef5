"""Sign-in by a trusted proxy's header (accounts/signin/trusted_header.py), on real Daphnes: one
that trusts 127.0.0.1, where the tests connect from, and one that trusts only 10.0.0.0/8."""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import pytest
from allauth.account.models import EmailAddress
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from accounts.models import User
from accounts.signin.trusted_header import (
    peer_trusted,
    proxies_parse,
    trusted_header_settings_check,
)
from tests.conftest import PASSWORD, _database_url, start_daphne

HEADER = "X-Forwarded-Email"
ORIGIN = "http://127.0.0.1"

# What the test process writes must be visible to the Daphnes.
on_daphne = pytest.mark.django_db(transaction=True)


def _daphne(django_db_blocker, proxies: str):
    with django_db_blocker.unblock():
        database_url = _database_url()
    return start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_TRUSTED_HEADER": HEADER,
            "AIPORTAL_TRUSTED_PROXIES": proxies,
        }
    )


@pytest.fixture(scope="module")
def trusted(django_db_setup, django_db_blocker):
    process, url = _daphne(django_db_blocker, "10.0.0.0/8, 127.0.0.1/32")
    yield url
    process.stop()


@pytest.fixture(scope="module")
def untrusted(django_db_setup, django_db_blocker):
    process, url = _daphne(django_db_blocker, "10.0.0.0/8")
    yield url, process
    process.stop()


def session_user(http: httpx.Client) -> User | None:
    key = http.cookies.get("sessionid")
    user_id = SessionStore(session_key=key).get("_auth_user_id") if key else None
    return User.objects.filter(pk=user_id).first() if user_id else None


def signed_in(response: httpx.Response) -> bool:
    """The chat page answers a signed-in person and sends anyone else to sign in."""
    if response.status_code == 302:
        assert response.headers["location"].startswith("/accounts/login/")
        return False
    assert response.status_code == 200
    return True


# --- HTTP ------------------------------------------------------------------------------------


@on_daphne
def test_a_trusted_proxy_signs_a_new_person_in(trusted):
    with httpx.Client(base_url=trusted) as http:
        response = http.get("/", headers={HEADER: "Newcomer@Example.com"})

        assert signed_in(response)
        user = session_user(http)
    assert user.email == "newcomer@example.com" and user.status == User.Status.ACTIVE
    assert not user.has_usable_password() and not user.is_staff
    assert EmailAddress.objects.get(user=user, email="newcomer@example.com").verified


@on_daphne
def test_an_existing_account_is_signed_in_by_its_address(trusted, member):
    with httpx.Client(base_url=trusted) as http:
        assert signed_in(http.get("/", headers={HEADER: "MEMBER@example.com"}))
        assert session_user(http) == member
    assert User.objects.count() == 1


@on_daphne
def test_a_header_from_an_untrusted_peer_is_ignored_and_logged(untrusted, member):
    url, process = untrusted
    with httpx.Client(base_url=url) as http:
        assert not signed_in(http.get("/", headers={HEADER: "member@example.com"}))
        assert not signed_in(http.get("/", headers={HEADER: "stranger@example.com"}))
        assert session_user(http) is None
    assert not User.objects.filter(email="stranger@example.com").exists()
    assert any(f"ignored the {HEADER} header from 127.0.0.1" in line for line in process.output)


@on_daphne
def test_the_session_follows_the_header_and_ends_without_it(trusted, owner, member):
    with httpx.Client(base_url=trusted) as http:
        assert signed_in(http.get("/", headers={HEADER: owner.email}))
        first_session = http.cookies["sessionid"]
        assert session_user(http) == owner

        assert signed_in(http.get("/", headers={HEADER: member.email}))
        assert session_user(http) == member
        # The owner's session is gone, not merely no longer used.
        assert SessionStore(session_key=first_session).get("_auth_user_id") is None

        # The proxy no longer vouches for anyone: the session the header made ends.
        assert not signed_in(http.get("/"))
        assert session_user(http) is None


@on_daphne
def test_a_password_session_is_replaced_by_the_person_the_header_names(trusted, owner, member):
    with httpx.Client(base_url=trusted) as http:
        login_page = http.get("/accounts/login/")
        response = http.post(
            "/accounts/login/",
            data={
                "login": owner.email,
                "password": PASSWORD,
                "csrfmiddlewaretoken": login_page.cookies["csrftoken"],
            },
        )
        assert response.status_code == 302 and session_user(http) == owner
        # Without the header, a session the header did not make goes on.
        assert signed_in(http.get("/"))

        assert signed_in(http.get("/", headers={HEADER: member.email}))
        assert session_user(http) == member


@on_daphne
def test_only_the_exact_header_counts_and_never_on_the_api(trusted, owner, member):
    with httpx.Client(base_url=trusted) as http:
        # Django would read X_Forwarded_Email as the same header; a proxy may not strip it.
        assert not signed_in(http.get("/", headers={"X_Forwarded_Email": member.email}))
        repeated = [(HEADER, owner.email), (HEADER, member.email)]
        assert not signed_in(http.get("/", headers=repeated))
        # /v1 takes API keys only.
        assert http.get("/v1/models", headers={HEADER: member.email}).status_code == 401
        assert session_user(http) is None
        # So does SCIM provisioning: its own tokens only.
        assert http.get("/scim/v2/Users", headers={HEADER: member.email}).status_code == 401
        assert session_user(http) is None


# --- Websockets ------------------------------------------------------------------------------


def first_answer(base_url: str, *, cookie: str | None, email: str | None):
    """Open the chat socket and send a frame it must refuse: an accepted, signed-in socket
    answers with an error frame; a refused one is closed (4401)."""

    async def talk():
        headers = {"Origin": ORIGIN}
        if cookie:
            headers["Cookie"] = f"sessionid={cookie}"
        if email:
            headers[HEADER] = email
        url = base_url.replace("http", "ws", 1) + "/ws/chat/"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, headers=headers) as ws,
        ):
            await ws.send_str("not json at all")
            message = await ws.receive(timeout=10)
            if message.type == aiohttp.WSMsgType.TEXT:
                return message.json()["code"]
            return message.data  # the close code

    return asyncio.run(talk())


def password_session(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@on_daphne
def test_a_socket_must_carry_the_header_of_its_session(trusted, owner, member):
    with httpx.Client(base_url=trusted) as http:
        assert signed_in(http.get("/", headers={HEADER: owner.email}))
        cookie = http.cookies["sessionid"]

    assert first_answer(trusted, cookie=cookie, email=owner.email) == "bad_request"
    assert first_answer(trusted, cookie=cookie, email=member.email) == 4401
    assert first_answer(trusted, cookie=cookie, email=None) == 4401


@on_daphne
def test_a_header_on_a_socket_from_an_untrusted_peer_does_nothing(untrusted, owner, member):
    url, _ = untrusted
    # Neither signs anyone in...
    assert first_answer(url, cookie=None, email=member.email) == 4401
    # ...nor takes the session's own person away.
    assert first_answer(url, cookie=password_session(owner), email=member.email) == "bad_request"


# --- Without a Daphne: the rest of the decisions ---------------------------------------------


@pytest.fixture
def header_on(settings, db):
    settings.AIPORTAL_TRUSTED_HEADER = HEADER
    settings.AIPORTAL_TRUSTED_PROXIES = ["127.0.0.1/32"]
    return Client(REMOTE_ADDR="127.0.0.1")  # a new client loads the middleware anew


def test_new_accounts_wait_for_approval_when_it_is_on(settings, header_on):
    settings.AIPORTAL_SIGNUP_APPROVAL = True
    header_on.get("/", HTTP_X_FORWARDED_EMAIL="waiting@example.com")
    user = User.objects.get(email="waiting@example.com")
    assert user.status == User.Status.PENDING and not user.may_act


def test_a_closed_signup_does_not_stop_the_proxy(settings, header_on):
    settings.AIPORTAL_SIGNUP = "closed"
    assert header_on.get("/", HTTP_X_FORWARDED_EMAIL="new@example.com").status_code == 200


def test_a_deactivated_account_is_not_signed_in(header_on, member):
    member.is_active = False
    member.save()
    response = header_on.get("/", HTTP_X_FORWARDED_EMAIL=member.email)
    assert response.status_code == 302 and "_auth_user_id" not in header_on.session


def test_a_header_that_holds_no_address_signs_nobody_in(header_on):
    response = header_on.get("/", HTTP_X_FORWARDED_EMAIL="just-a-user-name")
    assert response.status_code == 302
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("proxies", "message"),
    [([], "needs AIPORTAL_TRUSTED_PROXIES"), (["10.0.0.0/8", "not-a-cidr"], "'not-a-cidr' is not")],
)
def test_a_header_without_valid_proxies_stops_start_up(proxies, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        trusted_header_settings_check(HEADER, proxies)


def test_without_a_header_nothing_is_checked():
    trusted_header_settings_check("", [])


def test_peers_are_matched_against_the_proxies():
    proxies = proxies_parse(["10.0.0.0/8", "::1"])
    assert peer_trusted("10.1.2.3", proxies) and peer_trusted("::1", proxies)
    assert not peer_trusted("127.0.0.1", proxies)
    assert not peer_trusted(None, proxies) and not peer_trusted("not an address", proxies)
