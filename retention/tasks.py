"""Celery tasks for retention: thin, they call a service."""

from __future__ import annotations

from celery import shared_task

from retention.services import RUN_TIME_LIMIT_S, retention_purge


# From the beat, hourly. Not acks_late: a run killed mid-way is simply followed by the next
# one, which goes on where it stopped (retention/services/purge.py).
@shared_task(time_limit=RUN_TIME_LIMIT_S, soft_time_limit=RUN_TIME_LIMIT_S - 60)
def retention_purge_run() -> dict[str, int]:
    run = retention_purge()
    return run.counts
