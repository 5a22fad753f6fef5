"""Fixtures for the retention tests: people in groups with periods, conversations made old
(with an attachment's files and a share link), usage records made old, and ``set_defaults``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from chat.models import Conversation
from chat.services import conversation_create, conversation_share_create, message_create_turn
from chat.services.attachments import attachment_upload, attachments_bind
from retention.models import GroupRetention, RetentionDefaults
from tests.accounts.data_fixtures import staff, staff_client  # noqa: F401 -- fixtures

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.AIPORTAL_ATTACHMENTS_DIR = tmp_path / "attachments"
    return settings.AIPORTAL_ATTACHMENTS_DIR


def set_defaults(*, conversations=None, usage=None, audit=None) -> RetentionDefaults:
    defaults = RetentionDefaults(
        conversations_days=conversations, usage_days=usage, audit_days=audit
    )
    defaults.save()
    return defaults


def group_with(name: str, *members, **periods) -> Group:
    """A group with members and, per kind (``conversations=30``, ``usage=None``: forever),
    its own period."""
    group = Group.objects.create(name=name)
    group.user_set.add(*members)
    for kind, days in periods.items():
        GroupRetention.objects.create(group=group, kind=kind, days=days)
    return group


def old_conversation(user, *, days_idle: float, title: str = "Old", attach: bool = False):
    """A conversation with one turn, last active ``days_idle`` days ago; with ``attach``,
    the question carries a text file (stored on disk)."""
    conversation = conversation_create(user=user, title=title)
    question, _answer = message_create_turn(
        conversation=conversation, parent=None, content="Question", model=""
    )
    if attach:
        attachment = attachment_upload(user=user, name="notes.txt", chunks=[b"some notes"])
        attachments_bind(
            user=user, ids=[attachment.pk], conversation=conversation, message=question
        )
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=timezone.now() - timedelta(days=days_idle)
    )
    return conversation


def shared_old_conversation(user, *, days_idle: float):
    conversation = old_conversation(user, days_idle=0, title="Shared")
    token = conversation_share_create(user=user, id=conversation.pk)
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=timezone.now() - timedelta(days=days_idle)
    )
    return conversation, token


def stored_files(directory) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []
