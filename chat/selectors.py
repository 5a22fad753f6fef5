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


def conversation_share_active(*, conversation: Conversation) -> ConversationShare | None:
    return conversation.shares.filter(revoked_at__isnull=True).first()


def share_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A node of a conversation's tree as the page's JSON sends it: [id, parent, role, status].
# Ids, parents and roles only, in creation order: a 2,000-message tree is a few tens of KB,
# and the browser picks the shown branch from it without another request.
TreeNode = list[Any]
# How many messages of the shown branch the page carries with their text; earlier ones are
# fetched when the person scrolls up (chat.thread_views.messages).
THREAD_WINDOW = 50


def message_tree(*, conversation: Conversation) -> list[TreeNode]:
    """Every message of the conversation as ``[id, parent, role, status]``, oldest first."""
    rows = conversation.messages.order_by("created_at", "id").values_list(
        "id", "parent_id", "role", "status"
    )
    return [list(row) for row in rows]


def _children(tree: list[TreeNode]) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = {}
    for node_id, parent_id, *_ in tree:
        children.setdefault(parent_id, []).append(node_id)
    return children


def branch_leaf(*, tree: list[TreeNode], message_id: int | None = None) -> int | None:
    """The most recent leaf under ``message_id`` (itself when it has no children), or the
    conversation's most recent leaf when ``message_id`` is None. A message is always created
    after its parent, so the most recently created message of a subtree is one of its
    leaves: the last one in creation order."""
    if message_id is None:
        return tree[-1][0] if tree else None
    order = {node[0]: index for index, node in enumerate(tree)}
    children = _children(tree)
    latest, stack = message_id, [message_id]
    while stack:
        node = stack.pop()
        if order.get(node, -1) > order.get(latest, -1):
            latest = node
        stack.extend(children.get(node, ()))
    return latest


def branch_path(*, tree: list[TreeNode], leaf_id: int) -> list[int]:
    """The ids from the root down to ``leaf_id`` (inclusive)."""
    parents = {node[0]: node[1] for node in tree}
    path: list[int] = []
    node: int | None = leaf_id
    while node is not None and node in parents and len(path) <= len(parents):
        path.append(node)
        node = parents[node]
    path.reverse()
    return path


def message_siblings(*, tree: list[TreeNode], message_id: int) -> list[int]:
    """The ids of the messages that share ``message_id``'s parent, itself included, in
    creation order: what the 2/3 branch control steps through."""
    parent = next((node[1] for node in tree if node[0] == message_id), None)
    return [node[0] for node in tree if node[1] == parent]


def message_path(*, message: Message) -> list[Message]:
    """The chain from the root to ``message`` (inclusive): the branch the model sees as its
    context. The walk up the parents uses ids only; then one query for the path's rows."""
    parents = dict(
        Message.objects.filter(conversation_id=message.conversation_id).values_list(
            "id", "parent_id"
        )
    )
    parents[message.pk] = message.parent_id
    ids: list[int] = []
    node: int | None = message.pk
    while node is not None and len(ids) <= len(parents):  # no cycle through the services
        ids.append(node)
        node = parents.get(node)
    rows = {m.pk: m for m in Message.objects.filter(pk__in=ids[1:])}
    rows[message.pk] = message
    return [rows[i] for i in reversed(ids) if i in rows]


def conversation_thread(*, conversation: Conversation, leaf_id: int | None = None) -> list[Message]:
    """The branch shown on the page: root to ``leaf_id``, by default to the most recent
    leaf (the branch last written to)."""
    tree = message_tree(conversation=conversation)
    leaf = branch_leaf(tree=tree, message_id=leaf_id)
    if leaf is None:
        return []
    ids = branch_path(tree=tree, leaf_id=leaf)
    rows = {m.pk: m for m in conversation.messages.filter(pk__in=ids)}
    return [rows[i] for i in ids]


def thread_messages(*, conversation: Conversation, ids: list[int]) -> list[Message]:
    """The conversation's messages among ``ids``, in creation order (ids of other
    conversations are simply not there)."""
    return list(conversation.messages.filter(pk__in=ids).order_by("created_at", "id"))


def chat_defaults() -> ChatDefaults:
    return ChatDefaults.load()


def conversation_system_prompt(*, conversation: Conversation) -> str:
    """The conversation's own system prompt, else the admins' default (may be empty)."""
    return conversation.system_prompt.strip() or chat_defaults().system_prompt.strip()


def conversation_model(*, conversation: Conversation | None) -> str:
    """The model a conversation uses: its own choice, else the admins' default."""
    if conversation is not None and conversation.model:
        return conversation.model
    return chat_defaults().model


def message_context(*, message: Message) -> list[dict[str, str]]:
    """The OpenAI-style ``messages`` for answering after ``message``: the system prompt,
    then its path, without answers that failed before saying anything."""
    context = [
        {"role": m.role, "content": m.content}
        for m in message_path(message=message)
        if m.content and m.status != Message.Status.STREAMING
    ]
    prompt = conversation_system_prompt(conversation=message.conversation)
    if prompt:
        context.insert(0, {"role": "system", "content": prompt})
    return context


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    """The conversation as the websocket and the page's JSON describe it."""
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model,
        "pinned": conversation.pinned,
        "system_prompt": conversation.system_prompt,
        "datasets": list(conversation.datasets or []),
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
        "reasoning": message.reasoning,
        "last_seq": message.last_seq,
        "model": message.model,
        "error_code": message.error_code,
        "usage": message.usage,
        "metrics": message.metrics,
        "created_at": message.created_at.isoformat(),
    }
