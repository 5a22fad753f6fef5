"""Every sign-up policy on every path: the decision itself (local and SSO), and the real
sign-up view; invitations from the admin to a used invite; approval and the first account."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from allauth.account.models import EmailAddress
from allauth.account.signals import user_signed_up
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, Invite, User
from accounts.signup.policy import new_user_status, signup_complete, signup_refusal
from tests.accounts import policy_fixtures
from tests.accounts.policy_fixtures import (
    invite_expire,
    invite_make,
    link_in_last_mail,
    signed_in_client,
    signup_post,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db
policy = policy_fixtures.policy
no_rate_limits = policy_fixtures.no_rate_limits

ORG = ["example.org"]

# (policy, domains, via, email, allowed). The invite rows are decided with no invite on file.
DECISIONS = [
    ("closed", [], "local", "a@example.org", False),
    ("closed", [], "sso", "a@example.org", False),
    ("closed", [], "directory", "a@example.org", True),
    ("open", [], "local", "a@anywhere.test", True),
    ("open", [], "sso", "a@anywhere.test", True),
    ("invite", [], "local", "a@example.org", False),
    ("invite", [], "sso", "a@example.org", False),
    ("domains", ORG, "local", "a@example.org", True),
    ("domains", ORG, "local", "A@EXAMPLE.ORG", True),
    ("domains", ORG, "local", "a@example.org.evil.test", False),
    ("domains", ORG, "local", "a@sub.example.org", False),
    ("domains", ORG, "sso", "a@example.org", True),
    ("domains", ORG, "sso", "a@elsewhere.test", False),
    ("sso_only", [], "local", "a@example.org", False),
    ("sso_only", [], "sso", "a@anywhere.test", True),
    ("sso_only", ORG, "sso", "a@example.org", True),
    ("sso_only", ORG, "sso", "a@elsewhere.test", False),
    ("sso_only", ORG, "local", "a@example.org", False),
]


@pytest.mark.parametrize(("name", "domains", "via", "email", "allowed"), DECISIONS)
def test_the_decision_follows_the_policy(policy, name, domains, via, email, allowed):
    policy(name, domains=domains)
    assert (signup_refusal(email=email, via=via) is None) is allowed


@pytest.mark.parametrize("via", ["local", "sso"])
def test_a_live_invite_admits_its_address_on_both_paths(policy, via):
    policy("invite")
    invite_make(email="guest@example.org")
    assert signup_refusal(email="Guest@Example.org", via=via) is None
    assert signup_refusal(email="other@example.org", via=via) is not None


@pytest.mark.parametrize("spoil", ["used", "revoked", "expired"])
def test_a_spent_invite_admits_nobody(policy, owner, spoil):
    from accounts.signup.invites import invite_revoke

    policy("invite")
    invite, _ = invite_make(email="guest@example.org")
    if spoil == "used":
        Invite.objects.filter(pk=invite.pk).update(used_at=invite.created)
    elif spoil == "revoked":
        assert invite_revoke(invite=invite, by=owner)
    else:
        invite_expire(invite)
    assert signup_refusal(email="guest@example.org", via="sso") is not None


# --- The real sign-up view, per policy --------------------------------------------------------


@pytest.mark.parametrize("name", ["closed", "sso_only", "invite", "domains"])
def test_the_sign_up_page_refuses_an_address_its_policy_does_not_admit(policy, client, name):
    policy(name, domains=ORG if name == "domains" else None)
    response = signup_post(client, "stranger@elsewhere.test")
    assert not User.objects.filter(email="stranger@elsewhere.test").exists()
    if name in {"closed", "sso_only"}:
        assert "account/signup_closed.html" in [t.name for t in response.templates]
        words = {"closed": "ask an administrator", "sso_only": "single sign-on"}[name]
        assert words in response.content.decode()
    else:
        assert response.status_code == 200
        assert response.context["form"].errors["email"]


def test_an_open_policy_signs_anyone_up_as_an_ordinary_active_user(policy, client):
    policy("open")
    assert not User.objects.exists()  # the very first account of an empty database
    response = signup_post(client, "first@anywhere.test")
    assert response.status_code == 302
    user = User.objects.get(email="first@anywhere.test")
    assert not user.is_staff and not user.is_superuser
    assert user.status == User.Status.ACTIVE and user.may_act
    assert AuditEvent.objects.filter(action="account.signup", target_id=str(user.pk)).exists()


def test_a_domain_policy_signs_up_its_domain_and_demands_the_address_be_proven(policy, client):
    policy("domains", domains=ORG)
    response = signup_post(client, "ann@example.org")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert not EmailAddress.objects.get(email="ann@example.org").verified
    assert "/accounts/confirm-email/" in mail.outbox[-1].body
    # Not signed in until the address is confirmed.
    assert client.get(reverse("chat:index")).status_code == 302


def test_a_domain_policy_without_mandatory_verification_closes_sign_up(policy, client):
    policy("domains", domains=ORG, verification="optional")
    response = signup_post(client, "ann@example.org")
    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert not User.objects.exists()


@pytest.mark.parametrize("verification", ["none", "optional"])
def test_settings_refuse_a_domain_policy_without_verification(verification):
    env = {
        **os.environ,
        "DEBUG": "true",
        "AIPORTAL_SIGNUP": "domains",
        "AIPORTAL_SIGNUP_DOMAINS": "example.org",
        "AIPORTAL_EMAIL_VERIFICATION": verification,
    }
    result = subprocess.run(
        [sys.executable, "-c", "import aiportal.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "AIPORTAL_EMAIL_VERIFICATION=mandatory" in result.stderr


def test_an_invited_address_signs_up_through_its_link_and_uses_the_invite(policy, owner):
    policy("invite")
    invite, link = invite_make(email="guest@example.org", by=owner)
    client = Client()
    response = client.get(link)
    assert response.status_code == 302 and response["Location"] == reverse("account_signup")
    page = client.get(reverse("account_signup"))
    assert page.context["form"].fields["email"].initial == "guest@example.org"
    response = signup_post(client, "guest@example.org")
    assert response.status_code == 302
    user = User.objects.get(email="guest@example.org")
    # The link proved the mailbox: verified at once, signed in, and the invite is spent.
    assert EmailAddress.objects.get(user=user).verified
    assert client.get(reverse("chat:index")).status_code == 200
    invite.refresh_from_db()
    assert invite.used_at is not None and invite.used_by == user
    assert client.get(link).status_code == 410


def test_knowing_an_invited_address_is_not_enough_without_the_link(policy):
    policy("invite")
    invite, _ = invite_make(email="guest@example.org")
    response = signup_post(Client(), "guest@example.org")
    assert response.status_code == 200
    assert "invitation" in str(response.context["form"].errors["email"])
    invite.refresh_from_db()
    assert invite.used_at is None and not User.objects.filter(email="guest@example.org").exists()


def test_an_invite_link_cannot_sign_up_another_address(policy):
    policy("invite")
    _, link = invite_make(email="guest@example.org")
    client = Client()
    client.get(link)
    response = signup_post(client, "friend@example.org")
    assert response.status_code == 200 and response.context["form"].errors["email"]
    assert not User.objects.filter(email="friend@example.org").exists()


@pytest.mark.parametrize("spoil", ["expired", "revoked", "unknown"])
def test_a_dead_invite_link_says_so(policy, owner, spoil):
    from accounts.signup.invites import invite_revoke

    policy("invite")
    invite, link = invite_make(email="guest@example.org")
    if spoil == "expired":
        invite_expire(invite)
        words = "expired"
    elif spoil == "revoked":
        invite_revoke(invite=invite, by=owner)
        words = "withdrew"
    else:
        link = reverse("accounts_policy:invite", args=["not-a-real-token"])
        words = "never issued"
    response = Client().get(link)
    assert response.status_code == 410
    assert words in response.content.decode()


def test_the_sso_path_uses_the_invite_through_signup_complete(policy):
    policy("invite")
    invite, _ = invite_make(email="sso@example.org")
    assert signup_refusal(email="sso@example.org", via="sso") is None
    user = User.objects.create_user(
        username="sso@example.org", email="sso@example.org", status=new_user_status()
    )
    signup_complete(user)
    signup_complete(user)  # a path that also sends user_signed_up: counted once
    invite.refresh_from_db()
    assert invite.used_by == user
    assert AuditEvent.objects.filter(action="account.signup", target_id=str(user.pk)).count() == 1
    assert signup_refusal(email="sso@example.org", via="sso") is not None


def test_allauths_signed_up_signal_uses_the_invite(policy):
    policy("invite")
    invite, _ = invite_make(email="social@example.org")
    user = User.objects.create_user(username="social@example.org", email="social@example.org")
    user_signed_up.send(sender=User, request=None, user=user)
    invite.refresh_from_db()
    assert invite.used_by == user


def test_an_existing_account_may_add_an_address_under_the_invite_policy(policy, member):
    policy("invite")
    client = signed_in_client(member)
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "member.other@elsewhere.test"}
    )
    assert response.status_code == 302
    assert EmailAddress.objects.filter(user=member, email="member.other@elsewhere.test").exists()


@pytest.mark.parametrize("name", ["open", "invite", "domains"])
def test_with_approval_every_new_account_starts_pending(policy, name):
    policy(name, domains=ORG if name == "domains" else None, approval=True)
    client = Client()
    if name == "invite":
        _, link = invite_make(email="new@example.org")
        client.get(link)
    signup_post(client, "new@example.org")
    user = User.objects.get(email="new@example.org")
    assert user.status == User.Status.PENDING and not user.may_act
    assert new_user_status() == User.Status.PENDING


# --- Invitations in the admin -----------------------------------------------------------------


@pytest.fixture
def admin_client_signed_in(make_user):
    return signed_in_client(make_user("boss@example.com", is_staff=True))


def test_the_admin_invites_an_address_and_the_mail_carries_a_working_link(
    policy, admin_client_signed_in, django_capture_on_commit_callbacks
):
    policy("invite")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_signed_in.post(
            reverse("admin:accounts_invite_add"), {"email": "Guest@Example.org", "days": "3"}
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    invite = Invite.objects.get()
    assert invite.email == "guest@example.org" and invite.invited_by.email == "boss@example.com"
    assert mail.outbox[-1].to == ["guest@example.org"]
    link = link_in_last_mail("/accounts/invite/")
    assert invite.token_digest not in mail.outbox[-1].body  # the digest is not the token
    client = Client()
    assert client.get(link)["Location"] == reverse("account_signup")
    assert signup_post(client, "guest@example.org").status_code == 302


def test_the_admin_cannot_invite_an_existing_account(policy, admin_client_signed_in, member):
    policy("invite")
    response = admin_client_signed_in.post(
        reverse("admin:accounts_invite_add"), {"email": member.email, "days": "3"}
    )
    assert response.status_code == 200 and not Invite.objects.exists()
    assert not mail.outbox


def test_the_admin_revokes_an_invite_and_its_link_stops_working(policy, admin_client_signed_in):
    policy("invite")
    invite, link = invite_make(email="guest@example.org")
    response = admin_client_signed_in.post(
        reverse("admin:accounts_invite_changelist"),
        {"action": "revoke", "_selected_action": [invite.pk]},
    )
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    assert Client().get(link).status_code == 410
    assert AuditEvent.objects.filter(action="invite.revoke", target_id=str(invite.pk)).exists()
