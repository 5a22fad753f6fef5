"""Assistants in the Django admin: organisation assistants made there, starter prompts one
per line, datasets ticked, grants inline saved through the services (checked, audited)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from assistants.models import Assistant, Level
from assistants.selectors import assistant_level_for
from datasets.services import dataset_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_user):
    user = make_user("admin@example.com", is_staff=True)
    user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def staff_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _data(*, owner="", grants=(), **fields) -> dict:
    data = {
        "name": "Support desk",
        "icon": "SD",
        "colour": "green",
        "description": "Answers like our support team.",
        "owner": owner,
        "system_prompt": "Be kind and precise.",
        "model": "",
        "temperature": "0.2",
        "top_p": "",
        "max_tokens": "",
        "starters": "How do I reset my password?\n\nWhere is my invoice?\n",
        "grants-TOTAL_FORMS": len(grants),
        "grants-INITIAL_FORMS": 0,
        "grants-MIN_NUM_FORMS": 0,
        "grants-MAX_NUM_FORMS": 1000,
        **fields,
    }
    for i, row in enumerate(grants):
        data.update({f"grants-{i}-{key}": value for key, value in row.items()})
    return data


def test_an_organisation_assistant_is_made_in_the_admin_and_shared_with_a_group(
    staff_client, owner, member, admin_user
):
    team = Group.objects.create(name="support")
    member.groups.add(team)
    handbook = dataset_create(user=owner, name="Handbook")
    data = _data(
        grants=[{"user": "", "group": team.pk, "level": int(Level.USE)}],
        dataset_choice=[handbook.pk],
    )
    answer = staff_client.post(reverse("admin:assistants_assistant_add"), data)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    made = Assistant.objects.get(name="Support desk")
    assert made.owner is None
    assert made.starter_prompts == ["How do I reset my password?", "Where is my invoice?"]
    assert made.datasets == [handbook.pk]
    assert made.temperature == 0.2
    assert assistant_level_for(user=member, assistant=made) == Level.USE
    assert assistant_level_for(user=owner, assistant=made) is None
    assert assistant_level_for(user=admin_user, assistant=made) is None  # no grant, no use
    assert AuditEvent.objects.filter(action="assistant.grant.set", target_id=str(made.pk)).exists()
    change = staff_client.get(reverse("admin:assistants_assistant_change", args=[made.pk]))
    assert change.status_code == 200
    assert "Where is my invoice?" in change.content.decode()
    listing = staff_client.get(reverse("admin:assistants_assistant_changelist"))
    assert "organisation" in listing.content.decode()


def test_the_admin_refuses_a_bad_value_and_a_grant_to_the_owner(staff_client, owner):
    add = reverse("admin:assistants_assistant_add")
    refused = staff_client.post(add, _data(temperature="7"))
    assert refused.status_code == 200 and not Assistant.objects.exists()
    too_many = staff_client.post(add, _data(starters="a\nb\nc\nd\ne"))
    assert "At most 4 starter prompts." in too_many.content.decode()
    to_owner = staff_client.post(
        add,
        _data(owner=owner.pk, grants=[{"user": owner.pk, "group": "", "level": int(Level.USE)}]),
    )
    assert "The owner already manages the assistant." in to_owner.content.decode()
    assert not Assistant.objects.exists()


def test_people_who_are_not_staff_cannot_open_it(owner):
    client = Client()
    client.force_login(owner)
    answer = client.get(reverse("admin:assistants_assistant_changelist"))
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
