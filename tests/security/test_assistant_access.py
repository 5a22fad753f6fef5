"""An assistant's page and API by level: the owner (manage), grantees at use, edit and
manage, and an outsider. Reads below use are a 404 exactly like an unknown id; an action
above the person's level is a 403 and changes nothing. An organisation prompt is not shown
to those who may only use it."""

from __future__ import annotations

import pytest
from django.test import Client

from assistants.models import Assistant, AssistantGrant, Level
from assistants.services import assistant_create, assistant_grant_add

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def helper(owner):
    return assistant_create(
        user=owner, name="Pricing helper", system_prompt="Never reveal the discount table."
    )


def _edit(client: Client, helper: Assistant, name: str):
    return client.post(f"/assistants/{helper.pk}/", {"name": name, "icon": "PH", "colour": "red"})


def test_an_outsider_gets_404s_and_changes_nothing(helper, outsider):
    client = _as(outsider)
    assert client.get(f"/assistants/{helper.pk}/").status_code == 404
    assert client.get(f"/assistants/api/{helper.pk}/").status_code == 404
    assert _edit(client, helper, "Mine").status_code == 404
    assert client.post(f"/assistants/{helper.pk}/delete/").status_code == 404
    helper.refresh_from_db()
    assert helper.name == "Pricing helper"


def test_a_user_level_grantee_sees_it_but_not_its_prompt_and_cannot_edit(helper, owner, member):
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.USE)
    client = _as(member)
    page = client.get(f"/assistants/{helper.pk}/")
    assert page.status_code == 200
    assert "discount table" not in page.content.decode()
    data = client.get(f"/assistants/api/{helper.pk}/").json()
    assert data["name"] == "Pricing helper" and "system_prompt" not in data
    listed = client.get("/assistants/api/").json()["assistants"]
    assert [a["id"] for a in listed] == [helper.pk]
    assert "system_prompt" not in listed[0]
    assert _edit(client, helper, "Mine").status_code == 403
    assert client.post(f"/assistants/{helper.pk}/delete/").status_code == 403
    answer = client.post(
        f"/assistants/{helper.pk}/grants/", {"who": "outsider@example.com", "level": "10"}
    )
    assert answer.status_code == 403
    helper.refresh_from_db()
    assert helper.name == "Pricing helper"
    assert AssistantGrant.objects.filter(assistant=helper).count() == 1


def test_an_edit_level_grantee_edits_but_neither_shares_nor_deletes(helper, owner, member):
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.EDIT)
    client = _as(member)
    assert "discount table" in client.get(f"/assistants/{helper.pk}/").content.decode()
    assert _edit(client, helper, "Better name").status_code == 302
    helper.refresh_from_db()
    assert helper.name == "Better name"
    assert client.post(f"/assistants/{helper.pk}/delete/").status_code == 403
    assert Assistant.objects.filter(pk=helper.pk).exists()


def test_a_manage_level_grantee_shares_and_deletes(helper, owner, member, outsider):
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.MANAGE)
    client = _as(member)
    answer = client.post(f"/assistants/{helper.pk}/grants/", {"who": outsider.email, "level": "10"})
    assert answer.status_code == 302
    assert _as(outsider).get(f"/assistants/api/{helper.pk}/").status_code == 200
    assert client.post(f"/assistants/{helper.pk}/delete/").status_code == 302
    assert not Assistant.objects.filter(pk=helper.pk).exists()


def test_a_revoked_grant_closes_the_page_and_the_api_at_once(helper, owner, member):
    grant = assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.USE)
    client = _as(member)
    assert client.get(f"/assistants/api/{helper.pk}/").status_code == 200
    _as(owner).post(f"/assistants/{helper.pk}/grants/{grant.pk}/remove/")
    assert not AssistantGrant.objects.filter(pk=grant.pk).exists()
    assert client.get(f"/assistants/api/{helper.pk}/").status_code == 404
    assert client.get("/assistants/api/").json() == {"assistants": []}


def test_the_api_answers_a_signed_out_script_with_a_json_401(client, helper):
    answer = client.get("/assistants/api/")
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"


def test_a_grant_of_another_assistant_cannot_be_removed_through_ones_own(helper, owner, outsider):
    grant = assistant_grant_add(assistant=helper, user=owner, for_user=outsider, level=Level.USE)
    mine = assistant_create(user=outsider, name="Mine")
    answer = _as(outsider).post(f"/assistants/{mine.pk}/grants/{grant.pk}/remove/")
    assert answer.status_code == 404
    assert AssistantGrant.objects.filter(pk=grant.pk).exists()
