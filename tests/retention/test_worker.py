# ruff: noqa: F811 -- the fixtures imported from the datasets' conftest are parameters here
"""The beat's task in a real Celery worker process: one run deletes what is due and records
itself in the audit log."""

from __future__ import annotations

import time

from accounts.models import AuditEvent
from chat.models import Conversation
from retention.models import RetentionRun
from retention.tasks import retention_purge_run
from tests.datasets.conftest import WAIT, celery_worker, datasets_dir  # noqa: F401
from tests.retention.conftest import old_conversation, set_defaults


def test_the_beats_task_runs_in_a_real_worker(celery_worker, owner):
    set_defaults(conversations=30)
    old_conversation(owner, days_idle=31)
    recent = old_conversation(owner, days_idle=1)
    retention_purge_run.delay()
    deadline = time.monotonic() + WAIT
    while not RetentionRun.objects.filter(finished_at__isnull=False).exists():
        assert time.monotonic() < deadline, "".join(celery_worker.output[-40:])
        time.sleep(0.05)
    run = RetentionRun.objects.get()
    assert run.complete and run.counts["conversations"] == 1
    assert list(Conversation.objects.values_list("pk", flat=True)) == [recent.pk]
    event = AuditEvent.objects.get(action="retention.purge")
    assert event.target_id == str(run.pk) and event.detail["conversations"] == 1
