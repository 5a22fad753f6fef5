"""Reads for conversations: the user's list and one conversation, the sidebar's pages,
search and share links, the defaults a conversation falls back on, and a conversation as the
page and the socket describe it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import User
from chat.models import ChatDefaults, Conversation, ConversationShare, Message


def conversation_list(*, user: User) -> QuerySet[Conversation]:
    """The user's conversations (not deleted), pinned first, then most recently active."""
    return Conversation.objects.filter(owner=user, deleted_at__isnull=True).order_by(
        "-pinned", "-updated_at", "-id"
    )


def conversation_get(*, user: User, id: int) -> Conversation:
    """Raises ``Conversation.DoesNotExist`` for a missing id, another user's id and a deleted
    conversation alike."""
    return Conversation.objects.get(owner=user, pk=id, deleted_at__isnull=True)


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
    ``Conversation.DoesNotExist`` for an unknown, revoked or deleted one alike, and for one
    whose owner is pending or suspended (docs/accounts.md: such an account does nothing)."""
    share = (
        ConversationShare.objects.select_related("conversation")
        .filter(
            token_digest=share_token_digest(token),
            revoked_at__isnull=True,
            conversation__deleted_at__isnull=True,
            conversation__owner__is_active=True,
            conversation__owner__status=User.Status.ACTIVE,
        )
        .first()
    )
    if share is None:
        raise Conversation.DoesNotExist("no such share")
    return share.conversation


def share_link_gone(*, token: str) -> bool:
    """Whether the token is a link that worked once and no longer does: revoked, or its
    conversation deleted (hidden, or purged for good). Its page then says so (410)."""
    return (
        ConversationShare.objects.filter(token_digest=share_token_digest(token))
        .filter(
            Q(revoked_at__isnull=False)
            | Q(conversation__isnull=True)
            | Q(conversation__deleted_at__isnull=False)
        )
        .exists()
    )


def conversation_share_active(*, conversation: Conversation) -> ConversationShare | None:
    return conversation.shares.filter(revoked_at__isnull=True).first()


def share_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def chat_defaults() -> ChatDefaults:
    return ChatDefaults.load()


def conversation_system_prompt(
    *, conversation: Conversation, defaults: ChatDefaults | None = None
) -> str:
    """The conversation's own system prompt, else the admins' default (may be empty).
    ``defaults``: the admins' defaults when the caller read them already (one query a turn)."""
    own = conversation.system_prompt.strip()
    return own or (defaults or chat_defaults()).system_prompt.strip()


def conversation_model(
    *, conversation: Conversation | None, defaults: ChatDefaults | None = None
) -> str:
    """The model a conversation uses: its own choice, else the admins' default."""
    if conversation is not None and conversation.model:
        return conversation.model
    return (defaults or chat_defaults()).model


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    """The conversation as the websocket and the page's JSON describe it."""
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model,
        "pinned": conversation.pinned,
        "system_prompt": conversation.system_prompt,
        "datasets": list(conversation.datasets or []),
        "tools": list(conversation.tools or []),
        # The assistant it started from (an id; the page names it from its own list).
        "assistant": conversation.assistant_id,
        "url": f"/c/{conversation.pk}/",
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }
