"""Guessing passwords is slowed per (account, client address); nobody can lock an owner out.

The findings: thirty wrong passwords at /admin/login/ were all answered and the right one
then worked; allauth's per-account failure limit also refused the owner's right password, so
anyone could keep anyone out; and its per-address limit counted every person behind the edge
proxy as one. Now every password check (the sign-in form, re-authentication, LDAP, anything
calling ``authenticate()``) goes through accounts/signin/guessing.py, with small limits set here.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.backends import ModelBackend
from django.test import Client, RequestFactory

from accounts.signin.guessing import guessing_counts_clear
from accounts.signin.ldap import ldap_settings
from tests.accounts import ldap_fixtures
from tests.accounts.mfa_fixtures import totp_code, totp_enrol
from tests.accounts.policy_fixtures import link_in_last_mail
from tests.accounts.test_ldap import LDAP_PASSWORD, environment
from tests.conftest import PASSWORD

# The real slapd of the LDAP tests, brought in by name.
slapd_uri = ldap_fixtures.slapd_uri
directory = ldap_fixtures.directory

STRANGER = "198.51.100.7"
OWNER = "203.0.113.20"
EDGE = "10.0.0.2"  # the edge proxy's address, as every request behind it arrives from


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.AIPORTAL_SIGNIN_PAIR_LIMITS = "3/minute"
    settings.AIPORTAL_SIGNIN_ADDRESS_LIMITS = "6/minute"
    # allauth's own: only what these tests look at (second-factor codes, password change);
    # its count of sign-in requests per address lives in the shared cache across tests.
    settings.ACCOUNT_RATE_LIMITS = {
        "login": None,
        "login_failed": "3/m/key",
        "change_password": "3/m/user",
    }
    guessing_counts_clear()
    yield
    guessing_counts_clear()


def _from(address: str, **extra) -> Client:
    return Client(REMOTE_ADDR=address, **extra)


def _sign_in(client: Client, email: str, password: str):
    return client.post("/accounts/login/", {"login": email, "password": password})


def _signed_in(client: Client) -> bool:
    return client.session.get(SESSION_KEY) is not None


def test_a_strangers_failures_do_not_stop_the_owner_at_another_address(member):
    stranger = _from(STRANGER)
    for _ in range(30):
        _sign_in(stranger, member.email, "not the password")
    owner = _from(OWNER)
    assert _sign_in(owner, member.email, PASSWORD).status_code == 302
    assert _signed_in(owner)


def test_after_the_limit_the_pair_is_refused_even_the_right_password_with_a_clear_wait(member):
    client = _from(STRANGER)
    for _ in range(3):
        response = _sign_in(client, member.email, "not the password")
        assert response.status_code == 200
        assert b"Too many" not in response.content
    response = _sign_in(client, member.email, PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    text = response.content.decode()
    assert "Too many failed sign-ins for this account from your network address" in text
    assert f"Try again in {response['Retry-After']} seconds" in text
    assert "reset your password" in text
    assert not _signed_in(client)


def test_the_pair_may_try_again_once_its_window_has_passed(member, settings):
    settings.AIPORTAL_SIGNIN_PAIR_LIMITS = "2/2 seconds"
    client = _from(STRANGER)
    for _ in range(2):
        _sign_in(client, member.email, "not the password")
    assert _sign_in(client, member.email, PASSWORD).status_code == 429
    time.sleep(2.2)
    assert _sign_in(client, member.email, PASSWORD).status_code == 302
    assert _signed_in(client)


def test_a_longer_tier_makes_a_persistent_guesser_wait_longer(member, settings):
    settings.AIPORTAL_SIGNIN_PAIR_LIMITS = "2/2 seconds;3/hour"
    client = _from(STRANGER)
    for _ in range(2):
        _sign_in(client, member.email, "not the password")
    first = _sign_in(client, member.email, "not the password")
    assert int(first["Retry-After"]) <= 2
    time.sleep(2.2)
    _sign_in(client, member.email, "not the password")  # the third failure this hour
    second = _sign_in(client, member.email, PASSWORD)
    assert second.status_code == 429
    assert int(second["Retry-After"]) > 3000
    assert "Try again in 60 minutes" in second.content.decode()


def test_many_accounts_from_one_address_reach_the_address_ceiling(make_user, member):
    spray = _from(STRANGER)
    for number in range(6):
        _sign_in(spray, f"person{number}@example.com", "Summer2026!")
    response = _sign_in(spray, member.email, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins from your network address" in response.content.decode()
    assert not _signed_in(spray)
    elsewhere = _from(OWNER)
    assert _sign_in(elsewhere, member.email, PASSWORD).status_code == 302


def test_behind_the_edge_each_client_counts_as_its_own_address(member, settings):
    settings.AIPORTAL_BEHIND_PROXY = True
    # The edge appends the address it saw; whatever the client wrote before it is ignored.
    stranger = _from(EDGE, HTTP_X_FORWARDED_FOR=f"{OWNER}, {STRANGER}")
    for _ in range(10):
        _sign_in(stranger, member.email, "not the password")
    assert _sign_in(stranger, member.email, PASSWORD).status_code == 429
    owner = _from(EDGE, HTTP_X_FORWARDED_FOR=OWNER)
    assert _sign_in(owner, member.email, PASSWORD).status_code == 302


def test_ipv6_guesses_from_one_network_count_together(member):
    for host in range(1, 5):
        _sign_in(_from(f"2001:db8:1:2::{host}"), member.email, "not the password")
    assert _sign_in(_from("2001:db8:1:2::99"), member.email, PASSWORD).status_code == 429
    assert _sign_in(_from("2001:db8:1:3::1"), member.email, PASSWORD).status_code == 302


def test_a_password_reset_link_lets_the_owner_in_from_a_refused_pair(member):
    client = _from(STRANGER)
    for _ in range(3):
        _sign_in(client, member.email, "not the password")
    assert _sign_in(client, member.email, PASSWORD).status_code == 429

    client.post("/accounts/password/reset/", {"email": member.email})
    form = client.get(link_in_last_mail("/accounts/password/reset/key/"), follow=True)
    new_password = "a brand new horse battery 77"
    done = client.post(
        form.redirect_chain[-1][0], {"password1": new_password, "password2": new_password}
    )
    assert done.status_code == 302
    assert _sign_in(client, member.email, new_password).status_code == 302
    assert _signed_in(client)


def test_re_authentication_is_limited_the_same_way(member):
    client = _from(STRANGER)
    client.force_login(member)
    for _ in range(3):
        client.post("/accounts/reauthenticate/", {"password": "not the password"})
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()


def test_no_backend_sees_a_password_while_the_pair_is_refused(member, settings):
    """The guard comes before every backend (the local one, LDAP, any added later)."""
    seen: list[str] = []

    class Spy(ModelBackend):
        def authenticate(self, request, username=None, password=None, **kwargs):
            seen.append(password)

    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, f"{__name__}.Spy"]
    globals()["Spy"] = Spy
    request = RequestFactory().post("/", REMOTE_ADDR=STRANGER)
    for _ in range(3):
        assert authenticate(request, email=member.email, password="not the password") is None
    assert len(seen) == 3
    assert authenticate(request, email=member.email, password=PASSWORD) is None
    assert len(seen) == 3


@pytest.mark.django_db
def test_directory_passwords_are_limited_the_same_way(settings, directory):
    for name, value in ldap_settings(environment(directory.uri)).items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "accounts.signin.ldap_backend.DirectoryBackend",
    ]
    directory.add_person("lin", email="lin@example.org", password=LDAP_PASSWORD)
    stranger = _from(STRANGER)
    for _ in range(3):
        assert _sign_in(stranger, "lin", "not the password").status_code == 200
    assert _sign_in(stranger, "lin", LDAP_PASSWORD).status_code == 429
    owner = _from(OWNER)
    assert _sign_in(owner, "lin", LDAP_PASSWORD).status_code == 302
    assert _signed_in(owner)


def test_second_factor_codes_are_limited(make_user):
    user = make_user("codes@example.com")
    secret, _ = totp_enrol(user)
    client = _from(STRANGER)
    assert _sign_in(client, user.email, PASSWORD)["Location"] == "/accounts/2fa/authenticate/"
    for _ in range(3):
        client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert response.status_code == 200
    assert b"Too many" in response.content
    assert not _signed_in(client)


def test_password_change_is_limited(member):
    client = _from(OWNER)
    client.force_login(member)
    for _ in range(3):
        client.post(
            "/accounts/password/change/",
            {"oldpassword": "wrong", "password1": "x" * 20, "password2": "x" * 20},
        )
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "y" * 20 + "1Aa", "password2": "y" * 20 + "1Aa"},
    )
    assert response.status_code == 429
    member.refresh_from_db()
    assert member.check_password(PASSWORD)
