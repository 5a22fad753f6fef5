"""The conversation's tools and an answer's tool steps, as the chat stores them.

The composer's choice of tools is the conversation's (like its datasets): every turn offers
those of them the owner may still use (``tools.selectors.tools_usable``). A choice that
names a tool the person may not use is refused whole, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from chat.models import Conversation, Message
from tools.selectors import UsableTool, tools_usable

MAX_TOOLS = 32


class ToolsRefused(Exception):
    """The turn names a tool the person may not use (or none exists by that name)."""


def conversation_tools_check(*, user: User, tools: list[str]) -> list[str]:
    """The names, deduplicated, if every one is usable by ``user``; else ToolsRefused (the
    same whether the tool is unknown, disabled or another group's: nothing tells which)."""
    names = list(dict.fromkeys(tools))[:MAX_TOOLS]
    usable = {tool.full_name for tool in tools_usable(user=user, names=names)}
    if any(name not in usable for name in names):
        raise ToolsRefused
    return names


def conversation_tools_set(*, conversation: Conversation, tools: list[str]) -> None:
    """Store the checked choice (``conversation_tools_check``)."""
    if tools != conversation.tools:
        Conversation.objects.filter(pk=conversation.pk).update(tools=tools)
        conversation.tools = tools


def conversation_tools_usable(
    *, user: User, conversation: Conversation, brought: Sequence[str] = ()
) -> list[UsableTool]:
    """The tools this turn offers: the conversation's and those its assistant ``brought``, as
    far as the owner may use them now (a tool the person may not use is left out, as a
    dataset they may not query is)."""
    names = list(dict.fromkeys([*(conversation.tools or []), *brought]))[:MAX_TOOLS]
    if not names:
        return []
    return tools_usable(user=user, names=names)


def message_tool_steps_save(*, message_id: int, steps: list[dict[str, Any]]) -> None:
    """Save the answer's steps so far (each step as it starts and as it ends): a refreshed
    page shows them, and a dead generation leaves them behind."""
    Message.objects.filter(pk=message_id).update(tool_steps=steps, updated_at=timezone.now())


def step_result_saved(text: str) -> str:
    """A step's result as saved and shown: capped (the model got it whole, within the
    server's limit)."""
    limit = settings.AIPORTAL_TOOLS_SAVED_RESULT_CHARS
    return text if len(text) <= limit else text[:limit] + "\n[…]"
