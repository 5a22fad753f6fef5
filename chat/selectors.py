"""Reads for conversations and messages.

Every function that takes a ``user`` only ever sees that user's rows: another user's id
raises the same ``DoesNotExist`` as an id that was never used, so callers cannot tell the two
apart and neither can an attacker probing ids.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import User
from chat.models import Conversation, ConversationShare, Message


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    """The user's conversations (not deleted), pinned first, then most recently active."""
    return Conversation.objects.filter(owner=user, deleted_at__isnull=True).order_by(
        "-pinned", "-updated_at", "-id"
    )


def conversation_get(*, user: User, id: int) -> Conversation:
    """Raises ``Conversation.DoesNotExist`` for a missing id, another user's id and a deleted
    conversation alike."""
    return Conversation.objects.get(owner=user, pk=id, deleted_at__isnull=True)


def message_get(*, user: User, id: int) -> Message:
    """Raises ``Message.DoesNotExist`` for a missing id and for another user's message alike."""
    return Message.objects.select_related("conversation").get(
        conversation__owner=user, conversation__deleted_at__isnull=True, pk=id
    )


# --- The sidebar: pages, search, shares ------------------------------------------------------

SEARCH_SNIPPET_CHARS = 90


def conversation_page(
    *, user: User, before: tuple[datetime, int] | None = None, limit: int = 50
) -> tuple[list[Conversation], tuple[datetime, int] | None]:
    """One page of the user's unpinned conversations, most recent first, after the cursor
    ``before`` (the ``(updated_at, id)`` of the last one already shown). Keyset pagination:
    a conversation that moves to the top meanwhile cannot shift later pages. Returns the page
    and the cursor of the next one (None at the end)."""
    rows = Conversation.objects.filter(owner=user, deleted_at__isnull=True, pinned=False)
    if before is not None:
        at, pk = before
        rows = rows.filter(Q(updated_at__lt=at) | Q(updated_at=at, pk__lt=pk))
    page = list(rows.order_by("-updated_at", "-id")[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    return page, (page[-1].updated_at, page[-1].pk)


def conversation_list_pinned(*, user: User) -> list[Conversation]:
    return list(
        Conversation.objects.filter(owner=user, deleted_at__isnull=True, pinned=True).order_by(
            "-updated_at", "-id"
        )
    )


def conversation_search(*, user: User, query: str, limit: int = 30) -> list[dict[str, Any]]:
    """The user's conversations whose title or any message contains ``query`` (case
    insensitive), most recent first, each with a snippet of the first matching message.

    ``icontains`` on purpose for now: it works the same on SQLite and PostgreSQL and needs no
    index to be kept in step. It scans the user's own messages only (the owner filter comes
    first); a full-text index (tsvector/FTS5, as datasets use) is the step when that is slow."""
    query = query.strip()
    if not query:
        return []
    matching = Message.objects.filter(conversation=OuterRef("pk"), content__icontains=query)
    found = list(
        Conversation.objects.filter(owner=user, deleted_at__isnull=True)
        .filter(Q(title__icontains=query) | Exists(matching))
        .order_by("-updated_at", "-id")[:limit]
    )
    snippets: dict[int, str] = {}
    for conversation_id, content in (
        Message.objects.filter(conversation_id__in=[c.pk for c in found], content__icontains=query)
        .order_by("created_at", "id")
        .values_list("conversation_id", "content")
    ):
        snippets.setdefault(conversation_id, _snippet(content, query))
    return [{**conversation_payload(c), "snippet": snippets.get(c.pk, "")} for c in found]


def _snippet(content: str, query: str) -> str:
    flat = " ".join(content.split())
    at = flat.lower().find(query.lower())
    if at < 0:
        return flat[:SEARCH_SNIPPET_CHARS]
    start = max(0, at - SEARCH_SNIPPET_CHARS // 3)
    text = flat[start : start + SEARCH_SNIPPET_CHARS]
    return ("…" if start else "") + text + ("…" if start + SEARCH_SNIPPET_CHARS < len(flat) else "")


def conversation_share_find(*, token: str) -> Conversation:
    """The conversation a share link's token opens, for anyone who has the link. Raises
    ``Conversation.DoesNotExist`` for an unknown, revoked or deleted one alike."""
    share = (
        ConversationShare.objects.select_related("conversation")
        .filter(
            token_digest=share_token_digest(token),
            revoked_at__isnull=True,
            conversation__deleted_at__isnull=True,
        )
        .first()
    )
    if share is None:
        raise Conversation.DoesNotExist("no such share")
    return share.conversation


def conversation_share_active(*, conversation: Conversation) -> ConversationShare | None:
    return conversation.shares.filter(revoked_at__isnull=True).first()


def share_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
        "pinned": conversation.pinned,
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
