# ruff: noqa: F811 -- data_dir, imported from data_fixtures, is a parameter here
"""Saved prompts: who sees which (the owner, a member of a group it is shared with, an
outsider), who may change them, the rules their fields follow, search and ranking, and their
part of "export my data" and "delete my account"."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from accounts.privacy.deletion import account_delete
from accounts.privacy.export import data_export_build, data_export_request, exports_dir
from prompts.models import SavedPrompt
from prompts.selectors import prompt_get_visible, prompt_list_visible
from prompts.services import PromptInvalid, prompt_create, prompt_delete, prompt_update
from tests.accounts.data_fixtures import data_dir  # noqa: F401

pytestmark = pytest.mark.django_db


def _commands(user, query: str = "") -> list[str]:
    return [p.command for p in prompt_list_visible(user=user, query=query)]


def test_a_private_prompt_is_seen_by_its_owner_only(owner, member, outsider, private_prompt, team):
    assert _commands(owner) == ["diary"]
    assert _commands(member) == [] and _commands(outsider) == []
    for other in (member, outsider):
        with pytest.raises(SavedPrompt.DoesNotExist):
            prompt_get_visible(user=other, id=private_prompt.pk)


def test_a_shared_prompt_is_seen_by_group_members_and_not_by_an_outsider(
    owner, member, outsider, shared_prompt
):
    assert _commands(member) == ["reply"]
    assert prompt_get_visible(user=member, id=shared_prompt.pk).source == 1  # shared
    assert _commands(outsider) == []
    with pytest.raises(SavedPrompt.DoesNotExist):
        prompt_get_visible(user=outsider, id=shared_prompt.pk)


def test_leaving_the_group_hides_the_prompt_at_once(member, shared_prompt, team):
    member.groups.remove(team)
    assert _commands(member) == []


def test_only_the_owner_may_edit_or_delete_a_shared_prompt(owner, member, outsider, shared_prompt):
    for other in (member, outsider):
        with pytest.raises(SavedPrompt.DoesNotExist):
            prompt_update(
                user=other,
                id=shared_prompt.pk,
                title="Hijacked",
                command="reply",
                body="x",
                description="",
                groups=[],
            )
        with pytest.raises(SavedPrompt.DoesNotExist):
            prompt_delete(user=other, id=shared_prompt.pk)
    shared_prompt.refresh_from_db()
    assert shared_prompt.title == "Reply to a customer"
    prompt_update(
        user=owner,
        id=shared_prompt.pk,
        title="Reply politely",
        command="/Reply",
        body="Hi {{name}}",
        description="For support",
        groups=[],
    )
    shared_prompt.refresh_from_db()
    assert (shared_prompt.title, shared_prompt.command) == ("Reply politely", "reply")
    assert list(shared_prompt.groups.all()) == []  # unshared by the edit
    prompt_delete(user=owner, id=shared_prompt.pk)
    assert not SavedPrompt.objects.exists()


def test_organisation_prompts_go_to_everyone_or_to_the_groups_named(owner, member, outsider, team):
    everyone = SavedPrompt.objects.create(title="House style", command="style", body="Be brief.")
    for user in (owner, member, outsider):
        assert _commands(user) == ["style"]
    everyone.groups.add(team)
    assert _commands(member) == ["style"] and _commands(outsider) == []


def test_the_list_ranks_own_then_shared_then_organisation_and_better_matches_first(
    owner, member, team
):
    SavedPrompt.objects.create(title="Org summary", command="summary", body="Summarise.")
    prompt_create(
        user=owner, title="Team summary", command="summary", body="Sum.", groups=[team.pk]
    )
    prompt_create(user=member, title="Brief", command="brief", body="Make a summary.")
    prompt_create(user=member, title="A summary of mail", command="mail", body="x")
    prompt_create(user=member, title="Unrelated", command="zzz", body="nothing")
    found = prompt_list_visible(user=member, query="/summ")
    assert [(p.command, p.title) for p in found] == [
        ("mail", "A summary of mail"),  # own: title holds it
        ("brief", "Brief"),  # own: only the text holds it
        ("summary", "Team summary"),  # shared
        ("summary", "Org summary"),  # organisation
    ]
    assert [p.command for p in prompt_list_visible(user=member, query="su")][:1] == ["mail"]
    assert prompt_list_visible(user=member, query="nothing at all") == []


def test_a_command_is_unique_per_owner_and_cleaned(owner, member):
    prompt = prompt_create(user=owner, title="Summary", command=" /Summary ", body="Sum.")
    assert prompt.command == "summary"
    with pytest.raises(PromptInvalid) as caught:
        prompt_create(user=owner, title="Again", command="summary", body="Sum.")
    assert "already have a prompt /summary" in caught.value.errors["command"]
    # Someone else may have the same command.
    prompt_create(user=member, title="Mine", command="summary", body="Sum.")
    assert SavedPrompt.objects.count() == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"command": "has space"}, "command"),
        ({"command": "-dash"}, "command"),
        ({"command": "c" * 51}, "command"),
        ({"body": ""}, "body"),
        ({"body": "x" * 32001}, "body"),
        ({"body": " ".join(f"{{{{v{i}}}}}" for i in range(21))}, "body"),
        ({"description": "d" * 501}, "description"),
        ({"title": "nul\x00"}, "title"),
    ],
)
def test_a_bad_field_is_refused_with_its_reason_and_nothing_is_stored(owner, fields, field):
    values = {"title": "Fine", "command": "fine", "body": "Fine.", **fields}
    with pytest.raises(PromptInvalid) as caught:
        prompt_create(user=owner, **values)
    assert caught.value.errors.get(field)
    assert not SavedPrompt.objects.exists()


def test_sharing_is_only_with_ones_own_groups(owner, team):
    strangers = Group.objects.create(name="Strangers")
    with pytest.raises(PromptInvalid) as caught:
        prompt_create(user=owner, title="T", command="t", body="b", groups=[strangers.pk])
    assert "groups" in caught.value.errors
    assert not SavedPrompt.objects.exists()


def test_the_admin_form_checks_the_same_rules_and_the_organisations_commands(db):
    SavedPrompt.objects.create(title="Style", command="style", body="Be brief.")
    duplicate = SavedPrompt(title="Other", command="STYLE", body="x")
    with pytest.raises(ValidationError) as caught:
        duplicate.full_clean()
    assert "command" in caught.value.message_dict
    with pytest.raises(ValidationError):
        SavedPrompt(title="", command="ok", body="x").full_clean()


def test_deleting_an_account_deletes_its_prompts_and_only_those(owner, member, shared_prompt):
    theirs = prompt_create(user=member, title="Mine", command="mine", body="x")
    organisation = SavedPrompt.objects.create(title="Org", command="org", body="x")
    account_delete(user=owner, confirm_email=owner.email)
    assert set(SavedPrompt.objects.values_list("pk", flat=True)) == {theirs.pk, organisation.pk}


def test_export_my_data_holds_ones_prompts_in_the_import_format(
    owner, member, shared_prompt, data_dir
):
    prompt_create(user=member, title="Not mine", command="other", body="x")
    export = data_export_request(user=owner)
    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    with zipfile.ZipFile(exports_dir() / export.file_name) as archive:
        document = json.loads(archive.read("prompts.json"))
        readme = archive.read("README.txt").decode()
    assert document["format"] == "aiportal.prompts" and document["version"] == 1
    assert [p["command"] for p in document["prompts"]] == ["reply"]
    assert document["prompts"][0]["body"] == shared_prompt.body
    assert "prompts.json" in readme
