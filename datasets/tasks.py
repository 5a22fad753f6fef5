"""Celery tasks for datasets: thin, they take ids and call the refill service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from datasets.services.refill import (
    RefillHeld,
    RefillRetry,
    dataset_refills_due,
    refill_job_run,
    retry_delay,
    worker_name,
)

_LIMIT = settings.AIPORTAL_DATASET_REFILL_TIME_LIMIT


@shared_task(
    bind=True,
    # Idempotent: the job row and its lease decide who runs, so a redelivered message (the
    # worker was killed, or the broker's visibility timeout passed) only resumes or skips.
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=_LIMIT,
    soft_time_limit=_LIMIT - 30,
    # Bounded by the job's own attempts (AIPORTAL_DATASET_REFILL_RETRIES), not here.
    max_retries=None,
)
def dataset_refill_run(self, job_id: int) -> str:
    try:
        return refill_job_run(job_id=job_id, worker=worker_name())
    except RefillRetry as exc:
        raise self.retry(countdown=retry_delay(retries=exc.attempt - 1)) from exc
    except RefillHeld as exc:
        # A redelivered message met the job still leased: its worker may be alive, or dead
        # with the lease not yet run out. Look again once it may have.
        raise self.retry(countdown=settings.AIPORTAL_DATASET_LEASE) from exc


@shared_task(time_limit=120, soft_time_limit=100)
def dataset_refills_due_run() -> int:
    return len(dataset_refills_due())
