"""A whole conversation for "export my data": every message of every branch (edits and
regenerations are siblings in a tree), where chat/export.py writes the one branch the page
shows.

JSON (``aiportal.conversation-tree``): every message with its ``parent``, and ``branches``,
one list of ids from the root to each leaf, oldest leaf first; ``shown`` is the index of the
branch the page opens on. Markdown: each branch written out in full under its own heading.
"""

from __future__ import annotations

import json
from typing import Any

from chat import selectors
from chat.export import conversation_json, export_heading, message_json, message_markdown
from chat.models import Conversation


def _branches(conversation: Conversation) -> tuple[list[list[int]], int | None]:
    tree = selectors.message_tree(conversation=conversation)
    parents = {node[1] for node in tree}
    leaves = [node[0] for node in tree if node[0] not in parents]
    branches = [selectors.branch_path(tree=tree, leaf_id=leaf) for leaf in leaves]
    shown = selectors.branch_leaf(tree=tree)
    return branches, (leaves.index(shown) if shown in leaves else None)


def export_tree_json(*, conversation: Conversation) -> str:
    branches, shown = _branches(conversation)
    messages = conversation.messages.order_by("created_at", "id")
    data: dict[str, Any] = {
        "format": "aiportal.conversation-tree",
        "version": 1,
        "conversation": conversation_json(conversation),
        "messages": [message_json(m) for m in messages],
        "branches": branches,
        "shown": shown,
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def export_tree_markdown(*, conversation: Conversation) -> str:
    branches, shown = _branches(conversation)
    rows = {m.pk: m for m in conversation.messages.all()}
    lines = export_heading(conversation)
    if len(branches) > 1:
        lines += [
            f"{len(branches)} branches (an edited question or a regenerated answer starts "
            "one); each is written out from the first message.",
            "",
        ]
    for number, path in enumerate(branches, start=1):
        if len(branches) > 1:
            note = " (the one the page shows)" if number - 1 == shown else ""
            lines += [f"## Branch {number} of {len(branches)}{note}", ""]
        level = 3 if len(branches) > 1 else 2
        for message_id in path:
            lines += message_markdown(rows[message_id], level=level)
    return "\n".join(lines).rstrip() + "\n"
