"""Celery tasks for the chat: thin, they call a service."""

from __future__ import annotations

from celery import shared_task

from chat.services.attachments import attachment_purge_unsent
from chat.services.conversations import conversation_purge_deleted


# The deletes of conversations whose undo window passed, from the beat: no page load (a GET)
# does it any more, and a person who deletes nothing again would keep them forever.
@shared_task(time_limit=300, soft_time_limit=280)
def conversations_purge_deleted_run() -> int:
    # Attachments uploaded and never sent (a composer closed) go on the same beat.
    attachment_purge_unsent()
    return conversation_purge_deleted()
