"""Nobody widens their own permissions by posting more than a form asks for: is_staff,
is_superuser, status, groups, permissions or another user's id sent to every form a person
can reach (sign-up, sign-in, email, password, API keys, conversation settings, dataset
grants, the admin, an invitation) change nothing about who they are."""

from __future__ import annotations

import json

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from accounts.models import User
from chat.services import conversation_create
from datasets.models import Grant, Level
from datasets.services import grant_set
from datasets.services.datasets import dataset_create
from gateway.models import ApiKey
from tests.accounts import policy_fixtures
from tests.accounts.policy_fixtures import (
    NEW_PASSWORD,
    invite_make,
    signed_in_client,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
policy = policy_fixtures.policy
no_rate_limits = policy_fixtures.no_rate_limits
person = policy_fixtures.person


@pytest.fixture
def extra(owner):
    """The fields nobody may set on themselves, as a form post would carry them."""
    admins = Group.objects.create(name="admins")
    admins.permissions.add(Permission.objects.get(codename="change_user"))
    return {
        "is_staff": "on",
        "is_superuser": "on",
        "is_active": "on",
        "status": "active",
        "groups": str(admins.pk),
        "user_permissions": str(Permission.objects.get(codename="delete_user").pk),
        "user": str(owner.pk),
        "owner": str(owner.pk),
        "verified": "on",
        "primary": "on",
        "scopes": "admin",
    }


def powers(user: User) -> tuple:
    user.refresh_from_db()
    return (
        user.is_staff,
        user.is_superuser,
        user.is_active,
        user.status,
        sorted(user.groups.values_list("pk", flat=True)),
        sorted(user.user_permissions.values_list("pk", flat=True)),
    )


def test_sign_up_ignores_powers_in_the_post(policy, extra):
    policy("open", approval=True)
    client = Client()
    client.post(
        reverse("account_signup"),
        {"email": "new@example.org", "password1": PASSWORD, "password2": PASSWORD, **extra},
    )
    user = User.objects.get(email="new@example.org")
    assert powers(user) == (False, False, True, "pending", [], [])


def test_sign_up_through_an_invite_ignores_powers_in_the_post(policy, extra):
    policy("invite", approval=True)
    _, link = invite_make(email="guest@example.org")
    client = Client()
    client.get(link)
    client.post(
        reverse("account_signup"),
        {"email": "guest@example.org", "password1": PASSWORD, "password2": PASSWORD, **extra},
    )
    assert powers(User.objects.get(email="guest@example.org")) == (
        False, False, True, "pending", [], [],
    )  # fmt: skip


def test_a_pending_account_signing_in_with_powers_in_the_post_stays_pending(person, extra):
    user = person("pending")
    before = powers(user)
    client = Client()
    client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD, **extra})
    assert powers(user) == before


def test_adding_an_address_does_not_verify_it_or_change_the_account(member, extra):
    before = powers(member)
    client = signed_in_client(member)
    client.post(reverse("account_email"), {"action_add": "", "email": "m2@example.org", **extra})
    added = EmailAddress.objects.get(user=member, email="m2@example.org")
    assert not added.verified and not added.primary
    assert powers(member) == before


def test_the_password_change_form_changes_only_the_password(member, extra):
    before = powers(member)
    client = signed_in_client(member)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, **extra},
    )
    assert response.status_code == 302
    assert powers(member) == before
    assert member.check_password(NEW_PASSWORD)


def test_an_api_key_is_always_the_posters_own_and_has_no_scopes(member, owner, extra):
    before = powers(member)
    client = signed_in_client(member)
    client.post(reverse("apikeys:list"), {"name": "laptop", "expires": "", **extra})
    key = ApiKey.objects.get(name="laptop")
    assert key.user == member and not ApiKey.objects.filter(user=owner).exists()
    assert powers(member) == before
    # Another person's key cannot be revoked by its id.
    theirs = ApiKey.objects.create(user=owner, name="theirs", prefix="0" * 12, digest="x" * 64)
    assert client.post(reverse("apikeys:revoke", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_conversation_settings_refuse_fields_beyond_prompt_and_model(member, owner):
    conversation = conversation_create(user=member, title="Mine")
    client = signed_in_client(member)
    url = reverse("chat:thread_settings", args=[conversation.pk])
    body = {"system_prompt": "hi", "owner": owner.pk, "is_staff": True}
    response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    renamed = client.post(
        reverse("chat:api_rename", args=[conversation.pk]),
        json.dumps({"title": "New", "owner": owner.pk}),
        content_type="application/json",
    )
    assert renamed.status_code == 200
    conversation.refresh_from_db()
    assert conversation.owner == member and conversation.title == "New"


def test_a_viewer_cannot_grant_themselves_more_of_a_dataset(owner, member, extra):
    dataset = dataset_create(user=owner, name="Handbook")
    grant_set(dataset=dataset, user=owner, level=Level.VIEW, for_user=member)
    client = signed_in_client(member)
    response = client.post(
        reverse("datasets:grant_add", args=[dataset.pk]),
        {"who": member.email, "level": str(Level.MANAGE), **extra},
    )
    assert response.status_code == 403
    assert Grant.objects.get(dataset=dataset, user=member).level == Level.VIEW


def test_the_admin_user_form_is_not_reachable_without_staff(member, extra):
    before = powers(member)
    client = signed_in_client(member)
    url = reverse("admin:accounts_user_change", args=[member.pk])
    response = client.post(url, {"username": member.username, "email": member.email, **extra})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert powers(member) == before


def test_a_staff_member_cannot_set_a_status_through_the_admin_form(make_user, person, extra):
    boss = make_user("boss@example.com", is_staff=True)
    suspended = person("suspended")
    client = signed_in_client(boss)
    url = reverse("admin:accounts_user_change", args=[suspended.pk])
    response = client.post(
        url,
        {
            "username": suspended.username,
            "email": suspended.email,
            "first_name": "Renamed",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            **{**extra, "is_superuser": "", "is_staff": ""},
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    suspended.refresh_from_db()
    assert suspended.status == "suspended"  # only the audited actions change it
    assert suspended.first_name == "Renamed"  # the form itself was saved


def test_opening_an_invite_while_signed_in_changes_nothing(policy, member):
    policy("invite")
    invite, link = invite_make(email="guest@example.org")
    before = powers(member)
    client = signed_in_client(member)
    assert client.get(link).status_code == 200
    invite.refresh_from_db()
    assert invite.used_at is None and powers(member) == before
    assert not EmailAddress.objects.filter(email="guest@example.org").exists()
