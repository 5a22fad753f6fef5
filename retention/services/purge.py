"""The retention purge (docs/operations.md, "Retention"): conversations, usage records and
audit events older than the period that applies to them, deleted in bounded batches.

Each batch is one transaction that deletes its rows *and* adds its counts to the run's row
(``RetentionRun``), so a kill at any moment leaves either the whole batch, counted, or
nothing of it. Nothing else carries state from one batch to the next: every batch selects
what is due afresh, so a run started after a kill simply goes on, and a second run over the
same data deletes nothing more (idempotent). A run ends with one audit event holding its
counts; a run that never ended (killed) is recorded by the next one as interrupted, with
the counts its batches committed.

A run does at most ``AIPORTAL_RETENTION_MAX_BATCHES`` batches of
``AIPORTAL_RETENTION_BATCH`` rows, so a first run over years of history does not hold a
worker for hours: it stops "incomplete" and the next hourly run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import gateway
from accounts.audit import audit_record
from accounts.audit.purge import audit_events_purge_batch
from chat.services.retention import conversation_expired_purge_batch
from retention.models import AUDIT, CONVERSATIONS, USAGE, RetentionRun
from retention.selectors import retention_default_days, retention_scopes

logger = logging.getLogger(__name__)

# The task's hard time limit (retention/tasks.py): a run unfinished for longer was killed.
RUN_TIME_LIMIT_S = 3000

Batch = Callable[[], dict[str, int]]


class _Budget:
    """How many batches this run may still do."""

    def __init__(self, batches: int) -> None:
        self.left = batches
        self.exhausted = False

    def take(self) -> bool:
        if self.left <= 0:
            self.exhausted = True
            return False
        self.left -= 1
        return True


def _counts_add(run: RetentionRun, counts: dict[str, int]) -> None:
    locked = RetentionRun.objects.select_for_update().get(pk=run.pk)
    for name, count in counts.items():
        locked.counts[name] = locked.counts.get(name, 0) + count
    locked.save(update_fields=["counts"])
    run.counts = locked.counts


def _batches_run(
    run: RetentionRun, budget: _Budget, batch: Batch, *, size: int, picked: tuple[str, ...]
) -> None:
    """Run ``batch`` until a batch picks fewer than ``size`` of each kind it picks (the
    ``picked`` counts: conversations, not the messages that go with them), or the budget
    is spent. Each batch commits with its counts."""
    while budget.take():
        with transaction.atomic():
            counts = batch()
            _counts_add(run, counts)
        if all(counts[name] < size for name in picked):
            return


def _interrupted_runs_record(*, now: datetime) -> None:
    """Audit the runs that started long ago and never finished: killed mid-way."""
    stale = RetentionRun.objects.filter(
        finished_at__isnull=True, started_at__lt=now - timedelta(seconds=RUN_TIME_LIMIT_S)
    )
    for run in stale:
        with transaction.atomic():
            if not RetentionRun.objects.filter(pk=run.pk, finished_at__isnull=True).update(
                finished_at=now
            ):
                continue  # another run recorded it first
            audit_record(
                actor=None, action="retention.purge.interrupted", target_type="retention_run",
                target_id=run.pk, detail={"started": run.started_at.isoformat(), **run.counts},
            )  # fmt: skip


def retention_purge(
    *, batch_size: int | None = None, max_batches: int | None = None, now: datetime | None = None
) -> RetentionRun:
    """One purge run over every kind of data (see the module's docstring)."""
    size = batch_size or settings.AIPORTAL_RETENTION_BATCH
    budget = _Budget(max_batches or settings.AIPORTAL_RETENTION_MAX_BATCHES)
    now = now or timezone.now()
    _interrupted_runs_record(now=now)
    run = RetentionRun.objects.create(started_at=now)

    for scope in retention_scopes(kind=CONVERSATIONS):
        conversations = partial(
            conversation_expired_purge_batch,
            before=now - scope.period,
            owner_ids=scope.user_ids,
            exclude_owner_ids=scope.exclude_user_ids,
            limit=size,
        )
        _batches_run(run, budget, conversations, size=size, picked=("conversations",))

    today = timezone.localdate(now)
    for scope in retention_scopes(kind=USAGE):
        usage = partial(
            gateway.usage_purge_batch,
            keep_from=today - scope.period,
            user_ids=scope.user_ids,
            exclude_user_ids=scope.exclude_user_ids,
            limit=size,
        )
        _batches_run(run, budget, usage, size=size, picked=("usage_records", "usage_days"))

    audit_days = retention_default_days(kind=AUDIT)
    if audit_days is not None:
        before = now - timedelta(days=audit_days)

        def audit_events() -> dict[str, int]:
            return {"audit_events": audit_events_purge_batch(before=before, limit=size)}

        _batches_run(run, budget, audit_events, size=size, picked=("audit_events",))

    with transaction.atomic():
        run.finished_at = timezone.now()
        run.complete = not budget.exhausted
        run.save(update_fields=["finished_at", "complete"])
        audit_record(
            actor=None, action="retention.purge", target_type="retention_run",
            target_id=run.pk, detail={"complete": run.complete, **run.counts},
        )  # fmt: skip
    logger.info("retention run %s: %s (complete: %s)", run.pk, run.counts, run.complete)
    return run
