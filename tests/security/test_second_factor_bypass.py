"""Every way to get a session asks for the second factor its person has.

The finding: a staff member with an authenticator app signed in at /admin/login/ with the
password alone, got a full session and made an API key. Now /admin/login/ checks no password
(it sends people to the product's sign-in), every session made without the factor is ended
on its first page and opens no socket (accounts/signin/mfa_middleware.py,
accounts/access/live.py), and each of the other ways in (the sign-in form, a password reset,
a confirmed address, SSO, the trusted header) is shown to stop at the code form.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from accounts.access.live import socket_access
from gateway.models import ApiKey
from tests.accounts.mfa_fixtures import signed_in_with_code, totp_code, totp_enrol
from tests.accounts.oidc_fixtures import (  # noqa: F401  (fixtures)
    Browser,
    browser_fixture,
    idp_fixture,
    signed_in_user_id,
    sso_site_fixture,
)
from tests.accounts.policy_fixtures import link_in_last_mail, no_rate_limits
from tests.conftest import PASSWORD, _database_url, start_daphne

no_rate_limits = no_rate_limits  # allauth's and the guessing limits stay out of the way
CODE_FORM = "/accounts/2fa/authenticate/"


@pytest.fixture(autouse=True)
def _staff_policy(settings):
    settings.AIPORTAL_MFA_REQUIRED = "staff"


@pytest.fixture
def staff_with_app(make_user):
    """A staff member with an authenticator app: (the user, the app's secret)."""
    user = make_user("admin-with-app@example.com", is_staff=True)
    secret, _ = totp_enrol(user)
    return user, secret


def _signed_in_as(client: Client):
    return client.session.get(SESSION_KEY)


# --- Django admin's own sign-in ---------------------------------------------------------------


def test_the_admin_login_page_sends_people_to_the_products_sign_in_keeping_next():
    response = Client().get("/admin/login/?next=/admin/gateway/worker/")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/login/"
    assert parse_qs(location.query)["next"] == ["/admin/gateway/worker/"]


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/admin/", "/\\evil.example", "javascript:x"]
)
def test_a_next_that_leaves_the_site_becomes_the_admin_index(target):
    response = Client().get("/admin/login/", {"next": target})
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == ["/admin/"]


def test_a_password_posted_to_the_admin_login_signs_nobody_in(staff_with_app):
    staff, _ = staff_with_app
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": staff.email, "password": PASSWORD, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert _signed_in_as(client) is None
    assert client.get("/admin/").status_code == 302
    assert client.post("/settings/keys/", {"name": "from the admin login"}).status_code != 200
    assert not ApiKey.objects.filter(user=staff).exists()


def test_the_admin_password_page_is_the_products_own(staff_with_app):
    staff, secret = staff_with_app
    client = signed_in_with_code(staff, secret)
    response = client.get("/admin/password_change/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/password/change/")


def test_a_signed_in_person_who_is_not_staff_is_told_so_at_the_admin_login(client, member):
    client.force_login(member)
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 403
    assert b"not an administrator" in response.content


def test_staff_signed_in_with_their_code_reach_the_admin(staff_with_app):
    staff, secret = staff_with_app
    client = signed_in_with_code(staff, secret)
    response = client.get("/admin/login/?next=/admin/accounts/user/")
    assert response["Location"] == "/admin/accounts/user/"
    assert client.get("/admin/").status_code == 200
    assert client.post("/settings/keys/", {"name": "with the code"}).status_code in {200, 302}
    assert ApiKey.objects.filter(user=staff).exists()


# --- One enforcement point: any session made without the factor ------------------------------


def test_a_session_made_without_the_second_factor_is_ended_on_its_first_page(staff_with_app):
    # force_login is exactly what Django admin's form did: login() after the password alone.
    staff, _ = staff_with_app
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"
    assert _signed_in_as(client) is None
    page = client.get(response["Location"])
    assert b"signed in without your second factor" in page.content


def test_such_a_session_makes_no_api_key_and_is_told_why(staff_with_app):
    staff, _ = staff_with_app
    client = Client()
    client.force_login(staff)
    response = client.post("/settings/keys/", {"name": "bypass"})
    assert response.status_code == 403
    assert b"without your second factor" in response.content
    assert not ApiKey.objects.filter(user=staff).exists()


def test_such_a_session_ends_even_on_the_account_pages(staff_with_app):
    staff, _ = staff_with_app
    client = Client()
    client.force_login(staff)
    assert client.get("/accounts/2fa/").status_code == 302
    assert _signed_in_as(client) is None


def test_such_a_session_opens_no_socket(staff_with_app):
    staff, _ = staff_with_app
    client = Client()
    client.force_login(staff)
    key = client.cookies["sessionid"].value
    assert not socket_access(user_id=staff.pk, session_key=key).may_act


def test_a_session_signed_in_with_the_code_opens_a_socket(staff_with_app):
    staff, secret = staff_with_app
    client = signed_in_with_code(staff, secret)
    key = client.cookies["sessionid"].value
    assert socket_access(user_id=staff.pk, session_key=key).may_act


def test_a_person_without_a_factor_is_not_disturbed(client, member):
    client.force_login(member)
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200


# --- The product's own ways in ----------------------------------------------------------------


def test_the_sign_in_form_asks_for_the_code_before_any_session(staff_with_app):
    staff, secret = staff_with_app
    client = Client()
    response = client.post("/accounts/login/", {"login": staff.email, "password": PASSWORD})
    assert response["Location"] == CODE_FORM
    assert _signed_in_as(client) is None
    assert client.get("/settings/keys/").status_code == 302
    wrong = client.post(CODE_FORM, {"code": "000000"})
    assert wrong.status_code == 200 and _signed_in_as(client) is None
    client.post(CODE_FORM, {"code": totp_code(secret)})
    assert _signed_in_as(client) == str(staff.pk)


@pytest.mark.parametrize("login_on_reset", [False, True])
def test_a_password_reset_signs_in_only_after_the_code(staff_with_app, settings, login_on_reset):
    settings.ACCOUNT_LOGIN_ON_PASSWORD_RESET = login_on_reset
    staff, secret = staff_with_app
    client = Client()
    client.post("/accounts/password/reset/", {"email": staff.email})
    link = link_in_last_mail("/accounts/password/reset/key/")
    form = client.get(link, follow=True)
    new_password = "a brand new horse battery 77"
    response = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"password1": new_password, "password2": new_password},
    )
    assert response.status_code == 302
    assert _signed_in_as(client) is None
    if login_on_reset:
        assert response["Location"] == CODE_FORM
        client.post(CODE_FORM, {"code": totp_code(secret)})
        assert _signed_in_as(client) == str(staff.pk)


def test_confirming_an_address_signs_in_nobody_without_the_code(staff_with_app):
    # ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION is on: the confirmation link signs in only the
    # browser whose sign-in is waiting for it, through allauth's flow.
    staff, secret = staff_with_app
    EmailAddress.objects.filter(user=staff).update(verified=False)
    signed_in_with_code(staff, secret).post(
        "/accounts/email/", {"email": staff.email, "action_send": ""}
    )
    link = link_in_last_mail("/accounts/confirm-email/")
    client = Client()  # the link opened in another browser
    client.post(link)
    assert _signed_in_as(client) is None
    assert EmailAddress.objects.get(email=staff.email).verified


# --- SSO and the trusted header (real Daphnes) --------------------------------------------------


@pytest.mark.usefixtures("transactional_db")
def test_an_sso_sign_in_asks_for_the_code_of_the_account_it_links_to(idp, browser, make_user):
    local = make_user("sso-with-app@example.org")
    secret, _ = totp_enrol(local)
    idp.account("sso-with-app", email="sso-with-app@example.org")

    flow = browser.sso_login("sso-with-app")

    assert flow.last.url.path == CODE_FORM
    assert signed_in_user_id(flow) is None
    csrf = _csrf(flow.last.text)
    done = browser.go("POST", str(flow.last.url), data={"code": totp_code(secret), **csrf})
    assert signed_in_user_id(done) == local.pk


HEADER = "X-Forwarded-Email"


@pytest.fixture(scope="module")
def header_site(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_TRUSTED_HEADER": HEADER,
            "AIPORTAL_TRUSTED_PROXIES": "127.0.0.1/32",
        }
    )
    yield url
    process.stop()


def _csrf(page: str) -> dict[str, str]:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return {"csrfmiddlewaretoken": token}


@pytest.mark.usefixtures("transactional_db")
def test_the_trusted_header_asks_for_the_code_its_person_has(header_site, make_user):
    user = make_user("header-with-app@example.com")
    secret, _ = totp_enrol(user)
    headers = {HEADER: user.email}
    with httpx.Client(base_url=header_site, headers=headers) as http:
        response = http.get("/settings/keys/")
        assert (response.status_code, response.headers["location"]) == (302, CODE_FORM)
        assert SessionStore(session_key=http.cookies["sessionid"]).get(SESSION_KEY) is None
        # Another page while the code is due: sent back to the code form, still nobody.
        assert http.get("/").headers["location"] == CODE_FORM

        form = http.get(CODE_FORM)
        assert form.status_code == 200
        done = http.post(CODE_FORM, data={"code": totp_code(secret), **_csrf(form.text)})
        assert (done.status_code, done.headers["location"]) == (302, "/settings/keys/")
        assert http.get("/settings/keys/").status_code == 200
        session = SessionStore(session_key=http.cookies["sessionid"])
        assert session.get(SESSION_KEY) == str(user.pk)


@pytest.mark.usefixtures("transactional_db")
def test_the_trusted_header_signs_a_person_without_a_factor_straight_in(header_site, make_user):
    user = make_user("header-plain@example.com")
    with httpx.Client(base_url=header_site, headers={HEADER: user.email}) as http:
        assert http.get("/settings/keys/").status_code == 200


def test_no_view_of_the_project_calls_login_itself():
    """Sessions are made by allauth's flow only (whose stages ask for the factor); a new
    ``login(`` in the code is a new way in to review."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    callers = []
    for path in root.glob("*/**/*.py"):
        if path.parts[len(root.parts)] in {"tests", "bench", ".venv", "node_modules"}:
            continue
        text = path.read_text(errors="replace")
        if re.search(r"\b(auth_login|django_login|auth\.login)\(|(?<![.\w])login\(request", text):
            callers.append(str(path.relative_to(root)))
    assert callers == []
