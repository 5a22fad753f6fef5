"""Account enumeration: no form or endpoint a signed-in person (or anyone) can reach tells
whether an email address has an account here, or whether a group exists.

The dataset grant form answered "now has access" for a known address and "No person with the
email …" for an unknown one, to anyone (anyone may create a dataset and so manage one). It
now answers the same for both: an unknown address or group name gets a pending grant, listed
like any other, that takes effect when the person signs up and verifies that address (or
signs in with it verified), or when an admin creates the group. Password reset answers the
same for a known and an unknown address (allauth's ACCOUNT_PREVENT_ENUMERATION).
"""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.test import Client

from datasets.models import Grant, Level
from datasets.selectors import dataset_level_for
from datasets.services import dataset_create

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _answer(client: Client, dataset, who: str) -> str:
    """The page after granting, with the name typed and any id taken out."""
    page = client.post(
        f"/datasets/{dataset.pk}/grants/", {"who": who, "level": "10"}, follow=True
    ).content.decode()
    page = page.replace(who, "WHO").replace(who.lower(), "WHO")
    page = re.sub(r"/grants/\d+/", "/grants/N/", page)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)


def test_the_grant_form_answers_the_same_for_a_known_and_an_unknown_address(
    outsider, member, make_user
):
    # The outsider makes a dataset of their own only to probe who has an account.
    probe = dataset_create(user=outsider, name="Probe")
    client = _as(outsider)
    known = _answer(client, probe, member.email)
    Grant.objects.filter(dataset=probe).delete()
    unknown = _answer(client, probe, "nobody-here@example.com")
    assert known == unknown
    assert "Access set for WHO" in known


def test_the_grant_form_answers_the_same_for_a_known_and_an_unknown_group(outsider):
    Group.objects.create(name="finance")
    probe = dataset_create(user=outsider, name="Probe")
    client = _as(outsider)
    known = _answer(client, probe, "finance")
    Grant.objects.filter(dataset=probe).delete()
    assert _answer(client, probe, "no-such-team") == known.replace("finance", "no-such-team")


def test_a_pending_grant_gives_nothing_until_its_address_is_verified_then_everything(
    owner, make_user
):
    dataset = dataset_create(user=owner, name="Handbook")
    _as(owner).post(f"/datasets/{dataset.pk}/grants/", {"who": "New@Example.com", "level": "20"})
    pending = Grant.objects.get(dataset=dataset)
    assert (pending.user, pending.group, pending.pending_email) == (None, None, "new@example.com")

    newcomer = make_user("new@example.com")
    address, _ = EmailAddress.objects.get_or_create(
        user=newcomer, email="new@example.com", defaults={"verified": False, "primary": True}
    )
    EmailAddress.objects.filter(pk=address.pk).update(verified=False)
    Client().post("/accounts/login/", {"login": "new@example.com", "password": "x"})
    assert dataset_level_for(user=newcomer, dataset=dataset) is None  # not verified: nothing

    from allauth.account.signals import email_confirmed

    address.refresh_from_db()
    address.verified = True
    address.save()
    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)
    assert dataset_level_for(user=newcomer, dataset=dataset) == Level.QUERY
    assert not Grant.objects.filter(dataset=dataset).exclude(pending_email="").exists()


def test_a_pending_group_grant_applies_once_the_group_exists(owner, member):
    dataset = dataset_create(user=owner, name="Handbook")
    _as(owner).post(f"/datasets/{dataset.pk}/grants/", {"who": "later-team", "level": "10"})
    assert dataset_level_for(user=member, dataset=dataset) is None
    team = Group.objects.create(name="later-team")
    member.groups.add(team)
    assert dataset_level_for(user=member, dataset=dataset) == Level.VIEW


def test_password_reset_answers_the_same_for_a_known_and_an_unknown_address(owner, settings):
    settings.ACCOUNT_PREVENT_ENUMERATION = True

    def reset(email: str) -> tuple[int, str]:
        answer = Client().post("/accounts/password/reset/", {"email": email}, follow=True)
        return answer.status_code, answer.redirect_chain[-1][0] if answer.redirect_chain else ""

    assert reset(owner.email) == reset("nobody-here@example.com")


def test_the_admin_shows_a_pending_grant_and_saves_the_dataset_around_it(owner, make_user):
    from django.urls import reverse

    from tests.datasets.test_admin import _change_data, _grant_row

    dataset = dataset_create(user=owner, name="Handbook")
    _as(owner).post(f"/datasets/{dataset.pk}/grants/", {"who": "later@example.com", "level": "10"})
    pending = Grant.objects.get(dataset=dataset)
    admin = make_user("root@example.com", is_staff=True)
    type(admin).objects.filter(pk=admin.pk).update(is_superuser=True)
    client = _as(admin)
    url = reverse("admin:datasets_dataset_change", args=[dataset.pk])
    assert "pending: later@example.com" in client.get(url).content.decode()
    row = _grant_row(id=pending.pk, level=Level.VIEW)
    assert client.post(url, _change_data(dataset, grants=[row])).status_code == 302
    assert Grant.objects.filter(pk=pending.pk, pending_email="later@example.com").exists()
    changed = _grant_row(id=pending.pk, level=Level.EDIT)
    page = client.post(url, _change_data(dataset, grants=[changed]))
    assert page.status_code == 200 and "A pending grant can only be deleted here" in (
        page.content.decode()
    )
