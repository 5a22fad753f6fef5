"""Reads for conversations and messages.

Every function that takes a ``user`` only ever sees that user's rows: another user's id
raises the same ``DoesNotExist`` as an id that was never used, so callers cannot tell the two
apart and neither can an attacker probing ids.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from chat.models import Conversation, Message


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    """The user's conversations, most recently active first."""
    return Conversation.objects.filter(owner=user).order_by("-updated_at", "-id")


def conversation_get(*, user: User, id: int) -> Conversation:
    """Raises ``Conversation.DoesNotExist`` for a missing id and for another user's id alike."""
    return Conversation.objects.get(owner=user, pk=id)


def message_get(*, user: User, id: int) -> Message:
    """Raises ``Message.DoesNotExist`` for a missing id and for another user's message alike."""
    return Message.objects.select_related("conversation").get(conversation__owner=user, pk=id)


def message_path(*, message: Message) -> list[Message]:
    """The chain from the root to ``message`` (inclusive): the branch the model sees as its
    context. One query for the whole conversation, then a walk up the parents in memory."""
    by_id = {m.pk: m for m in Message.objects.filter(conversation_id=message.conversation_id)}
    by_id[message.pk] = message
    path: list[Message] = []
    node: Message | None = message
    while node is not None:
        path.append(node)
        node = by_id.get(node.parent_id) if node.parent_id else None
        if len(path) > len(by_id):  # a cycle cannot be built through the services; be safe
            break
    path.reverse()
    return path


def conversation_thread(*, conversation: Conversation) -> list[Message]:
    """The branch shown on the page: root to the most recently created message. (Choosing
    among sibling branches arrives with issue 3/6.)"""
    latest = conversation.messages.order_by("-created_at", "-id").first()
    return message_path(message=latest) if latest else []


def message_context(*, message: Message) -> list[dict[str, str]]:
    """The OpenAI-style ``messages`` for answering after ``message``: its path, without
    answers that failed before saying anything."""
    return [
        {"role": m.role, "content": m.content}
        for m in message_path(message=message)
        if m.content and m.status != Message.Status.STREAMING
    ]


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    """The conversation as the websocket and the page's JSON describe it."""
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model,
        "url": f"/c/{conversation.pk}/",
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "parent": message.parent_id,
        "role": message.role,
        "status": message.status,
        "content": message.content,
        "last_seq": message.last_seq,
        "model": message.model,
        "error_code": message.error_code,
        "usage": message.usage,
        "metrics": message.metrics,
        "created_at": message.created_at.isoformat(),
    }
