"""Reads for messages: one message, a conversation's tree and its branches, the thread a
page shows, the context the model sees, and a message as the page and the socket describe it.

Like every selector that takes a ``user``, ``message_get`` only ever sees that user's rows
(chat/selectors/__init__.py says why).
"""

from __future__ import annotations

import base64
from typing import Any

import gateway
from accounts.models import User
from chat.models import Attachment, ChatDefaults, Conversation, Message
from chat.selectors.attachments import attachment_path, attachment_payload, message_attachments
from chat.selectors.conversations import conversation_system_prompt
from chat.visibility import metrics_visible


def message_get(*, user: User, id: int) -> Message:
    """Raises ``Message.DoesNotExist`` for a missing id and for another user's message alike."""
    return Message.objects.select_related("conversation").get(
        conversation__owner=user, conversation__deleted_at__isnull=True, pk=id
    )


# A node of a conversation's tree as the page's JSON sends it: [id, parent, role, status].
# Ids, parents and roles only, in creation order: a 2,000-message tree is a few tens of KB,
# and the browser picks the shown branch from it without another request.
TreeNode = list[Any]
# How many messages of the shown branch the page carries with their text; earlier ones are
# fetched when the person scrolls up (chat.views.thread.messages).
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
    context. One query, which walks up the parents inside the database (a recursive CTE,
    in PostgreSQL and SQLite alike) and returns only the path's rows, however large the
    conversation's tree; bounded by the conversation's length against a cycle."""
    table = Message._meta.db_table
    # The table's name is the model's own, never input; every value is a parameter.
    ancestors = Message.objects.raw(
        f"""WITH RECURSIVE path(id, depth) AS (
                SELECT parent_id, 1 FROM {table} WHERE id = %s AND parent_id IS NOT NULL
                UNION ALL
                SELECT m.parent_id, p.depth + 1 FROM {table} m JOIN path p ON m.id = p.id
                WHERE m.parent_id IS NOT NULL AND m.conversation_id = %s AND p.depth < %s
            )
            SELECT m.* FROM {table} m JOIN path p ON m.id = p.id
            WHERE m.conversation_id = %s ORDER BY p.depth DESC""",  # noqa: S608
        [message.pk, message.conversation_id, _PATH_MAX, message.conversation_id],
    )
    return [*ancestors, message]


# The longest path walked: far beyond any conversation a person has (each turn is two rows).
_PATH_MAX = 100_000


def conversation_thread(*, conversation: Conversation, leaf_id: int | None = None) -> list[Message]:
    """The branch shown on the page: root to ``leaf_id``, by default to the most recent
    leaf (the branch last written to)."""
    tree = message_tree(conversation=conversation)
    leaf = branch_leaf(tree=tree, message_id=leaf_id)
    if leaf is None:
        return []
    ids = branch_path(tree=tree, leaf_id=leaf)
    rows = {
        m.pk: m for m in conversation.messages.filter(pk__in=ids).prefetch_related("attachments")
    }
    return [rows[i] for i in ids]


def thread_messages(*, conversation: Conversation, ids: list[int]) -> list[Message]:
    """The conversation's messages among ``ids``, in creation order (ids of other
    conversations are simply not there)."""
    return list(
        conversation.messages.filter(pk__in=ids)
        .order_by("created_at", "id")
        .prefetch_related("attachments")
    )


def message_context(
    *, message: Message, defaults: ChatDefaults | None = None, model: str = ""
) -> list[dict[str, Any]]:
    """The OpenAI-style ``messages`` for answering after ``message``: the system prompt,
    then its path, without answers that failed before saying anything. A user message's
    images become ``image_url`` parts (data URLs) when ``model`` reads images (asked only
    when there are images), else a note that they are not shown; its documents are named
    (their text is put before the model each turn, chat/services/attachment_context.py)."""
    path = [m for m in message_path(message=message) if m.content]
    attached: dict[int, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(
        message_id__in=[m.pk for m in path if m.role == Message.Role.USER]
    ).defer("text"):
        attached.setdefault(attachment.message_id or 0, []).append(attachment)
    images = any(a.kind == Attachment.Kind.IMAGE for rows in attached.values() for a in rows)
    vision = images and bool(model) and gateway.model_accepts_images(model=model)
    context: list[dict[str, Any]] = [
        {"role": m.role, "content": _content(m, attached.get(m.pk, []), vision=vision)}
        for m in path
        if m.status != Message.Status.STREAMING
    ]
    prompt = conversation_system_prompt(conversation=message.conversation, defaults=defaults)
    if prompt:
        context.insert(0, {"role": "system", "content": prompt})
    return context


def _content(message: Message, attachments: list[Attachment], *, vision: bool) -> Any:
    if not attachments:
        return message.content
    text = message.content
    images: list[str] = []
    for attachment in attachments:
        # The name is the person's, so data: quoted, on a line of its own.
        name = " ".join(attachment.name.split()).replace('"', "'")
        if attachment.kind == Attachment.Kind.DOCUMENT:
            text += f'\n\n[Attached document: "{name}"]'
        elif vision:
            data = base64.b64encode(attachment_path(attachment).read_bytes()).decode()
            images.append(f"data:{attachment.media_type};base64,{data}")
        else:
            text += f'\n\n[Attached image: "{name}", not shown: this model does not read images]'
    if not images:
        return text
    return gateway.content_with_images(text=text, image_urls=images)


def message_payload(message: Message, *, staff: bool) -> dict[str, Any]:
    """A message as the page gets it; only ``staff`` see the worker in its metrics
    (chat/visibility.py)."""
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
        "metrics": metrics_visible(message.metrics, staff=staff),
        "tool_steps": message.tool_steps,
        "created_at": message.created_at.isoformat(),
        "attachments": [attachment_payload(a) for a in message_attachments(message)],
    }
