"""Local accounts through allauth's real views and Django's locmem outbox: sign-up, the
confirmation mail, signing in; the password reset mail and a new password; links that are
wrong, used or expired say so."""

from __future__ import annotations

import time
import types
from datetime import datetime, timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts import policy_fixtures
from tests.accounts.policy_fixtures import NEW_PASSWORD, link_in_last_mail, signup_post
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
policy = policy_fixtures.policy
no_rate_limits = policy_fixtures.no_rate_limits


def sign_in(client: Client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def signed_in(client: Client) -> bool:
    return client.get(reverse("chat:index")).status_code == 200


@pytest.fixture
def mandatory(policy):
    policy("open", verification="mandatory")


def test_sign_up_mails_a_link_that_confirms_the_address_and_signs_in(mandatory):
    client = Client()
    response = signup_post(client, "new@example.org")
    assert response["Location"] == reverse("account_email_verification_sent")
    assert mail.outbox[-1].to == ["new@example.org"]
    assert not signed_in(client)
    # Before the address is confirmed the password alone does not get in.
    other = Client()
    assert sign_in(other, "new@example.org", PASSWORD)["Location"] == reverse(
        "account_email_verification_sent"
    )
    assert not signed_in(other)

    link = link_in_last_mail("/accounts/confirm-email/")
    page = client.get(link)
    assert page.status_code == 200 and "new@example.org" in page.content.decode()
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(email="new@example.org").verified
    assert signed_in(client)  # ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION

    fresh = Client()
    assert sign_in(fresh, "new@example.org", PASSWORD).status_code == 302
    assert signed_in(fresh)


def test_a_wrong_confirmation_link_says_it_is_invalid(mandatory):
    signup_post(Client(), "new@example.org")
    link = link_in_last_mail("/accounts/confirm-email/")
    response = Client().get(link.rstrip("/")[:-3] + "xyz/")
    assert "expired or is invalid" in response.content.decode()
    assert not EmailAddress.objects.get(email="new@example.org").verified


def test_an_expired_confirmation_link_says_so(mandatory, monkeypatch):
    import django.core.signing
    from allauth.account import app_settings

    signup_post(Client(), "new@example.org")
    link = link_in_last_mail("/accounts/confirm-email/")
    later = time.time() + (app_settings.EMAIL_CONFIRMATION_EXPIRE_DAYS + 1) * 86400
    # Only the signer's clock moves on: the key carries the time it was signed.
    monkeypatch.setattr(django.core.signing, "time", types.SimpleNamespace(time=lambda: later))
    client = Client()
    assert "expired or is invalid" in client.get(link).content.decode()
    client.post(link)
    assert not EmailAddress.objects.get(email="new@example.org").verified


def test_the_password_reset_mail_sets_a_new_password(member):
    client = Client()
    response = client.post(reverse("account_reset_password"), {"email": member.email})
    assert response.status_code == 302
    assert mail.outbox[-1].to == [member.email]
    link = link_in_last_mail("/accounts/password/reset/key/")
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and not form_page.context.get("token_fail")
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302

    assert sign_in(Client(), member.email, PASSWORD).status_code == 200  # the form again
    fresh = Client()
    assert sign_in(fresh, member.email, NEW_PASSWORD).status_code == 302
    assert signed_in(fresh)

    # The link worked once.
    again = Client().get(link, follow=True)
    assert again.context["token_fail"]
    assert "invalid or has expired" in again.content.decode()


def test_a_wrong_password_reset_link_changes_nothing(member):
    Client().post(reverse("account_reset_password"), {"email": member.email})
    link = link_in_last_mail("/accounts/password/reset/key/")
    client = Client()
    response = client.get(link.rstrip("/") + "x/", follow=True)
    assert response.context["token_fail"]
    assert "invalid or has expired" in response.content.decode()
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_an_expired_password_reset_link_changes_nothing(member, monkeypatch, settings):
    Client().post(reverse("account_reset_password"), {"email": member.email})
    link = link_in_last_mail("/accounts/password/reset/key/")
    later = datetime.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    client = Client()
    response = client.get(link, follow=True)
    assert response.context["token_fail"]
    # Posting a new password to the form's address anyway changes nothing either.
    uidb36 = link.rstrip("/").rsplit("/", 1)[1].split("-", 1)[0]
    client.post(
        reverse("account_reset_password_from_key", args=[uidb36, "set-password"]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_a_password_reset_for_an_unknown_address_sends_no_link(policy):
    policy("closed")
    response = Client().post(reverse("account_reset_password"), {"email": "nobody@example.org"})
    assert response.status_code == 302  # the same answer as for a known one: no oracle
    assert all("/accounts/password/reset/key/" not in m.body for m in mail.outbox)
    assert not User.objects.filter(email="nobody@example.org").exists()


def test_the_account_pages_use_the_sites_layout(client):
    for name in ["account_login", "account_reset_password", "account_signup"]:
        html = client.get(reverse(name)).content.decode()
        assert 'class="auth-card"' in html and "/static/chat/chat." in html, name
