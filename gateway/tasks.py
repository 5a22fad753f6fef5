"""Celery tasks for the gateway: thin, they call a service."""

from __future__ import annotations

from celery import shared_task

from gateway.usage_rollup import usage_rollup_recent


# The usage page's daily roll-ups of today and yesterday, from the beat (gateway/usage_rollup.py).
# Idempotent: a rebuild, so a run that overlaps or repeats another counts nothing twice.
@shared_task(time_limit=600, soft_time_limit=570)
def usage_rollup_recent_run() -> int:
    return usage_rollup_recent()
