"""Saved prompts across people, through the JSON API: the owner reads, edits and deletes; a
member of a group the prompt is shared with reads it only; an outsider can do none of it and
learns nothing (the same 404 as an unknown id). Organisation prompts limited to a group stay
with that group. (tests/security/test_idor.py covers every URL with a prompt's id too.)"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from prompts.models import SavedPrompt
from prompts.services import prompt_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompt(owner, member):
    team = Group.objects.create(name="Team")
    owner.groups.add(team)
    member.groups.add(team)
    return prompt_create(
        user=owner, title="Team secret", command="secret", body="Secret {{x}}", groups=[team.pk]
    )


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _commands(client: Client, query: str = "") -> list[str]:
    return [p["command"] for p in client.get(f"/prompts/api/?q={query}").json()["prompts"]]


def _change(client: Client, prompt) -> list[int]:
    update = client.post(
        f"/prompts/api/{prompt.pk}/update/",
        json.dumps({"title": "Changed", "body": "pwned"}),
        content_type="application/json",
    )
    delete = client.post(f"/prompts/api/{prompt.pk}/delete/")
    return [update.status_code, delete.status_code]


def test_an_outsider_cannot_read_edit_or_delete_a_prompt(prompt, outsider):
    client = _client(outsider)
    assert _commands(client) == [] and _commands(client, "secret") == []
    assert "Team secret" not in client.get("/prompts/").content.decode()
    assert _change(client, prompt) == [404, 404]
    unknown = client.post("/prompts/api/999999/delete/")
    assert (
        unknown.status_code == 404
        and unknown.json() == client.post(f"/prompts/api/{prompt.pk}/delete/").json()
    )
    prompt.refresh_from_db()
    assert (prompt.title, prompt.body) == ("Team secret", "Secret {{x}}")


def test_a_member_reads_a_shared_prompt_but_cannot_change_it(prompt, member):
    client = _client(member)
    assert _commands(client, "secret") == ["secret"]
    assert _change(client, prompt) == [404, 404]
    prompt.refresh_from_db()
    assert prompt.title == "Team secret"


def test_the_owner_can_do_all_three(prompt, owner):
    client = _client(owner)
    assert _commands(client) == ["secret"]
    assert _change(client, prompt) == [200, 200]
    assert not SavedPrompt.objects.exists()


def test_an_organisation_prompt_for_a_group_is_not_shown_to_others(owner, outsider):
    staff_only = Group.objects.create(name="Staff")
    owner.groups.add(staff_only)
    org = SavedPrompt.objects.create(title="Internal", command="internal", body="b")
    org.groups.add(staff_only)
    assert _commands(_client(owner)) == ["internal"]
    assert _commands(_client(outsider)) == []
    # Nobody edits it through the API, not even a member of its group: it is the admin's.
    assert _change(_client(owner), org) == [404, 404]
    assert SavedPrompt.objects.filter(pk=org.pk).exists()


def test_a_person_cannot_share_into_a_group_they_are_not_in(prompt, outsider):
    team = prompt.groups.get()
    answer = _client(outsider).post(
        "/prompts/api/create/",
        json.dumps({"title": "Spam", "command": "spam", "body": "b", "groups": [team.pk]}),
        content_type="application/json",
    )
    assert answer.status_code == 400 and "groups" in answer.json()["errors"]
    assert not SavedPrompt.objects.filter(owner=outsider).exists()
