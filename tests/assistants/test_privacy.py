# ruff: noqa: F811 -- the fixtures imported from data_fixtures are parameters here
"""Assistants in "export my data", in a conversation's export, and in "delete my account"."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.contrib.auth.models import Group

from accounts.privacy.deletion import account_delete
from accounts.privacy.export import data_export_build, data_export_request, exports_dir
from assistants.models import Assistant, AssistantGrant, Level
from assistants.services import assistant_create, assistant_grant_add
from chat.export import export_json, export_markdown
from chat.models import Conversation
from chat.services import conversation_create, message_create_turn
from tests.accounts.data_fixtures import data_dir  # noqa: F401

pytestmark = pytest.mark.django_db


def _started_from(user, assistant) -> Conversation:
    conversation = conversation_create(user=user, title="Notes for 2.0")
    Conversation.objects.filter(pk=conversation.pk).update(assistant=assistant)
    message_create_turn(conversation=conversation, parent=None, content="List the changes")
    conversation.refresh_from_db()
    return conversation


def test_export_my_data_has_ones_own_assistants_and_the_conversations_assistant(
    data_dir, owner, member, helper
):
    assistant_grant_add(assistant=helper, user=owner, for_user=member, level=Level.USE)
    assistant_create(user=member, name="Member's own")
    _started_from(owner, helper)
    export = data_export_request(user=owner)
    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    archive = zipfile.ZipFile(exports_dir() / export.file_name)
    data = json.loads(archive.read("assistants.json"))
    assert [a["name"] for a in data["assistants"]] == ["Release notes writer"]
    mine = data["assistants"][0]
    assert mine["system_prompt"] == "You write release notes in the house style."
    assert mine["starter_prompts"] == ["Summarise these changes", "Write a headline"]
    assert mine["shared_with"] == [{"user": member.email, "group": None, "level": "use"}]
    trees = [
        n for n in archive.namelist() if n.startswith("conversations/") and n.endswith(".json")
    ]
    tree = json.loads(archive.read(trees[0]))
    assert tree["conversation"]["assistant"] == "Release notes writer"


def test_a_conversation_export_names_its_assistant(owner, helper):
    conversation = _started_from(owner, helper)
    assert json.loads(export_json(conversation=conversation))["conversation"]["assistant"] == (
        "Release notes writer"
    )
    assert "Assistant: Release notes writer" in export_markdown(conversation=conversation)
    plain = conversation_create(user=owner, title="Plain")
    assert json.loads(export_json(conversation=plain))["conversation"]["assistant"] is None
    assert "Assistant:" not in export_markdown(conversation=plain)


def test_no_assistants_file_for_someone_without_assistants(data_dir, member):
    export = data_export_request(user=member)
    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    assert "assistants.json" not in zipfile.ZipFile(exports_dir() / export.file_name).namelist()


def test_deleting_an_account_deletes_its_assistants_and_only_its_own(
    data_dir, owner, member, helper
):
    theirs = assistant_create(user=member, name="Member's own")
    team = Group.objects.create(name="team")
    assistant_grant_add(assistant=theirs, user=member, for_user=owner, level=Level.USE)
    assistant_grant_add(assistant=helper, user=owner, for_group=team, level=Level.USE)
    conversation = _started_from(member, helper)  # a member's chat from the owner's assistant
    account_delete(user=owner, confirm_email=owner.email)
    assert not Assistant.objects.filter(pk=helper.pk).exists()
    assert not AssistantGrant.objects.filter(assistant_id=helper.pk).exists()
    assert Assistant.objects.filter(pk=theirs.pk).exists()
    assert not AssistantGrant.objects.filter(assistant=theirs).exists()  # the owner's grant
    conversation.refresh_from_db()
    assert conversation.assistant_id is None  # the member's chat stays, as a plain one
