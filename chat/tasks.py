"""Celery tasks for the chat: thin, they call a service."""

from __future__ import annotations

from celery import shared_task

from chat.services.conversations import conversation_purge_deleted


# The deletes of conversations whose undo window passed, from the beat: no page load (a GET)
# does it any more, and a person who deletes nothing again would keep them forever.
@shared_task(time_limit=300, soft_time_limit=280)
def conversations_purge_deleted_run() -> int:
    return conversation_purge_deleted()
