"""The prompt library's people: the owner, a member of the owner's group, an outsider in no
group of theirs, and a prompt of each kind."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from prompts.models import SavedPrompt
from prompts.services import prompt_create


@pytest.fixture
def team(owner, member) -> Group:
    group = Group.objects.create(name="Support team")
    owner.groups.add(group)
    member.groups.add(group)
    return group


@pytest.fixture
def shared_prompt(owner, team) -> SavedPrompt:
    return prompt_create(
        user=owner,
        title="Reply to a customer",
        command="reply",
        body="Write a reply to {{customer}} in {{language|English}}.",
        groups=[team.pk],
    )


@pytest.fixture
def private_prompt(owner) -> SavedPrompt:
    return prompt_create(
        user=owner, title="My diary helper", command="diary", body="Summarise my day."
    )
