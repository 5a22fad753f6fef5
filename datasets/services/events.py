"""Telling open pages what changed, through the channel layer. Best effort, like every frame
the portal pushes: a page that misses one shows the truth on its next load, and no write
ever fails because Redis hiccupped."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from common.websockets import datasets_group
from datasets.protocol import datasets_changed_event, job_frame, job_group

logger = logging.getLogger(__name__)


def _send(group: str, event: Mapping[str, Any]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:
        logger.warning("publishing %s to %s failed", event.get("type"), group, exc_info=True)


def datasets_changed_publish(*, user_ids: Iterable[int]) -> None:
    """Once the transaction commits (a page that re-reads earlier would still see the old
    grants), tell each user's pages that what they may see has changed."""
    ids = sorted(set(user_ids))
    if not ids:
        return

    def send() -> None:
        for user_id in ids:
            _send(datasets_group(user_id), datasets_changed_event())

    transaction.on_commit(send)


def job_publish(*, job) -> None:
    _send(job_group(job.pk), job_frame(job=job))
