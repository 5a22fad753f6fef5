"""Helpers for the sign-up policy and roles tests: a policy set in settings, sign-up through
the real allauth views, mail links read from Django's locmem outbox, people in each status.

Imported by the test modules (``from tests.accounts.policy_fixtures import ...``); pytest
finds the fixtures because the modules import them by name."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from tests.conftest import PASSWORD

NEW_PASSWORD = "a different horse, battery staple 43"
_LINK = re.compile(r"https?://[^\s]+")


@pytest.fixture(autouse=True)
def no_rate_limits(settings):
    """allauth's rate limits count in the cache, which is Redis shared by parallel runs and
    kept across tests: a test must not be refused for what another one did. Autouse in every
    module that names it (``no_rate_limits = policy_fixtures.no_rate_limits``). The
    password-guessing limits (accounts/signin/guessing.py) are off too: tests/security/
    test_login_guessing.py sets its own."""
    settings.ACCOUNT_RATE_LIMITS = False
    settings.AIPORTAL_SIGNIN_PAIR_LIMITS = ""
    settings.AIPORTAL_SIGNIN_ADDRESS_LIMITS = ""


@pytest.fixture
def policy(settings):
    """Set the sign-up policy for one test: ``policy("domains", domains=["example.org"])``."""

    def configure(
        name: str,
        *,
        domains: list[str] | None = None,
        approval: bool = False,
        verification: str | None = None,
    ) -> None:
        settings.AIPORTAL_SIGNUP = name
        settings.AIPORTAL_SIGNUP_DOMAINS = domains or []
        settings.AIPORTAL_SIGNUP_APPROVAL = approval
        settings.ACCOUNT_EMAIL_VERIFICATION = verification or (
            "mandatory" if name == "domains" else "optional"
        )

    return configure


def signup_post(client: Client, email: str, password: str = PASSWORD):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "password2": password},
    )


def link_in_last_mail(path_part: str) -> str:
    """The path of the link containing ``path_part`` in the newest mail."""
    assert mail.outbox, "no mail was sent"
    for link in _LINK.findall(mail.outbox[-1].body):
        if path_part in link:
            return re.sub(r"^https?://[^/]+", "", link)
    raise AssertionError(f"no {path_part} link in: {mail.outbox[-1].body}")


def invite_make(*, email: str, by: User | None = None, days: int = 7):
    """An invite for ``email`` through the service; returns (invite, path of its link)."""
    from accounts.signup.invites import invite_create

    invite, token = invite_create(
        email=email,
        invited_by=by,
        link_for=lambda t: "http://testserver" + reverse("accounts_policy:invite", args=[t]),
        days=days,
    )
    return invite, reverse("accounts_policy:invite", args=[token])


def invite_expire(invite) -> None:
    type(invite).objects.filter(pk=invite.pk).update(expires=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def person(make_user):
    """A person in a given status: ``person("pending")``, ``person("suspended", staff=True)``."""

    def make(status: str, *, staff: bool = False, email: str | None = None) -> User:
        user = make_user(
            email or f"{status}{'-staff' if staff else ''}@example.com", is_staff=staff
        )
        User.objects.filter(pk=user.pk).update(status=status)
        user.refresh_from_db()
        return user

    return make


def signed_in_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
