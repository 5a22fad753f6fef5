"""Writes for the chat, split by feature: ``conversations`` (creating one, its settings, the
sidebar's rename, pin, delete, shares and generated titles), ``messages`` (a turn's rows, a
regeneration, a continuation, the streaming answer's row), ``retrieval`` (the conversation's
datasets, searched on every turn), ``turns`` (starting a turn's answer), ``generation`` (the
answer's task, apart from any socket).

The ORM writes are re-exported here; ``turns``, ``generation`` and ``retrieval`` are async or
reach the gateway and the datasets, and are imported by their own path.
"""

from chat.services.conversations import (
    InvalidTitle,
    conversation_create,
    conversation_delete,
    conversation_pin,
    conversation_purge_deleted,
    conversation_rename,
    conversation_restore,
    conversation_settings_update,
    conversation_share_create,
    conversation_share_revoke,
    conversation_title_from,
)
from chat.services.messages import (
    MessageBadState,
    Turn,
    message_continue,
    message_create_turn,
    message_finish,
    message_interrupt_stale,
    message_load,
    message_regenerate,
    message_save_progress,
    message_save_progress_many,
    message_send,
)

__all__ = [
    "InvalidTitle",
    "MessageBadState",
    "Turn",
    "conversation_create",
    "conversation_delete",
    "conversation_pin",
    "conversation_purge_deleted",
    "conversation_rename",
    "conversation_restore",
    "conversation_settings_update",
    "conversation_share_create",
    "conversation_share_revoke",
    "conversation_title_from",
    "message_continue",
    "message_create_turn",
    "message_finish",
    "message_interrupt_stale",
    "message_load",
    "message_regenerate",
    "message_save_progress",
    "message_save_progress_many",
    "message_send",
]
