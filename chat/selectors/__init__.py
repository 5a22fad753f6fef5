"""Reads for the chat, split by feature: ``conversations`` (the list, the sidebar, shares,
defaults), ``messages`` (the tree, its branches, the model's context).

Every function that takes a ``user`` only ever sees that user's rows: another user's id
raises the same ``DoesNotExist`` as an id that was never used, so callers cannot tell the two
apart and neither can an attacker probing ids.
"""

from chat.selectors.conversations import (
    chat_defaults,
    conversation_get,
    conversation_list,
    conversation_list_pinned,
    conversation_model,
    conversation_page,
    conversation_payload,
    conversation_search,
    conversation_share_active,
    conversation_share_find,
    conversation_system_prompt,
    share_link_gone,
    share_token_digest,
)
from chat.selectors.messages import (
    THREAD_WINDOW,
    TreeNode,
    branch_leaf,
    branch_path,
    conversation_thread,
    message_context,
    message_get,
    message_path,
    message_payload,
    message_siblings,
    message_tree,
    thread_messages,
)

__all__ = [
    "THREAD_WINDOW",
    "TreeNode",
    "branch_leaf",
    "branch_path",
    "chat_defaults",
    "conversation_get",
    "conversation_list",
    "conversation_list_pinned",
    "conversation_model",
    "conversation_page",
    "conversation_payload",
    "conversation_search",
    "conversation_share_active",
    "conversation_share_find",
    "conversation_system_prompt",
    "conversation_thread",
    "message_context",
    "message_get",
    "message_path",
    "message_payload",
    "message_siblings",
    "message_tree",
    "share_link_gone",
    "share_token_digest",
    "thread_messages",
]
