"""Refills through a real Celery worker process against Redis and the test database:
end to end, a worker killed with SIGKILL mid-refill, two requests at once, cancel, and the
beat's recovery of a job whose message is gone."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from datasets.models import Chunk, Document, RefillJob, Version
from datasets.selectors import chunk_search
from datasets.services.chunking import text_chunk
from datasets.services.refill import (
    dataset_refill_cancel,
    dataset_refill_start,
    dataset_refills_due,
)
from tests.datasets.conftest import corpus, job_wait

Status = RefillJob.Status
FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}


def _finished(job) -> bool:
    return job.status in FINISHED


def test_a_refill_runs_end_to_end_in_the_worker(celery_worker, dataset, upload, owner):
    upload(dataset, corpus(3))
    job = dataset_refill_start(dataset=dataset, user=owner)  # dispatched on commit
    job = job_wait(job.pk, _finished, worker=celery_worker)
    assert job.status == Status.SUCCEEDED, job.message
    assert job.counts == {"seen": 3, "added": 3, "reused": 0, "removed": 0, "errors": 0}
    hits = chunk_search(user=owner, query="marker1x2", dataset_ids=[dataset.pk])
    assert [hit.key for hit in hits] == ["upload:doc01.txt"]


def test_a_worker_killed_mid_refill_leaves_the_old_version_and_the_job_completes(
    celery_worker, dataset, upload, owner
):
    upload(dataset, corpus(2))
    first = job_wait(
        dataset_refill_start(dataset=dataset, user=owner).pk, _finished, worker=celery_worker
    )
    dataset.refresh_from_db()
    old_version = dataset.active_version
    documents = corpus(8)
    upload(dataset, documents, kind="slow-upload")
    job = dataset_refill_start(dataset=dataset, user=owner)
    assert job.pk != first.pk
    job_wait(job.pk, lambda j: j.seen >= 4, worker=celery_worker)
    celery_worker.kill()
    assert RefillJob.objects.get(pk=job.pk).counts["errors"] == 0
    dataset.refresh_from_db()
    assert dataset.active_version == old_version  # readers still see the old version
    assert RefillJob.objects.get(pk=job.pk).status == Status.RUNNING
    assert chunk_search(user=owner, query="marker7x0", dataset_ids=[dataset.pk]) == []

    celery_worker.start()  # the unacknowledged message is handed out again
    job = job_wait(job.pk, _finished, worker=celery_worker)
    assert job.status == Status.SUCCEEDED, job.message
    assert job.attempts == 2
    # The documents the dead worker had stored (at least the 4 it had counted: progress is
    # written after they are stored) were reused, not stored twice.
    assert job.counts["reused"] >= 4
    assert job.counts["added"] + job.counts["reused"] == 8
    dataset.refresh_from_db()
    version = dataset.active_version
    assert version.number > old_version.number and version.documents == 8
    expected = sum(len(text_chunk(text, size=800, overlap=100)) for text in documents.values())
    assert version.chunks == expected
    assert Document.objects.filter(dataset=dataset).count() == 8
    assert Chunk.objects.filter(document__dataset=dataset).count() == expected
    for i in range(8):
        hits = chunk_search(user=owner, query=f"marker{i}x3", dataset_ids=[dataset.pk])
        assert [hit.key for hit in hits] == [f"upload:doc{i:02}.txt"]


def test_two_refills_requested_at_once_run_once(celery_worker, dataset, upload, owner):
    upload(dataset, corpus(3))
    barrier = threading.Barrier(2)
    jobs = []

    def request() -> None:
        try:
            barrier.wait()
            jobs.append(dataset_refill_start(dataset=dataset, user=owner).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(jobs) == 2 and jobs[0] == jobs[1]
    job = job_wait(jobs[0], _finished, worker=celery_worker)
    assert job.status == Status.SUCCEEDED and job.attempts == 1
    assert RefillJob.objects.filter(dataset=dataset).count() == 1
    assert Version.objects.filter(dataset=dataset).count() == 1


def test_a_refill_cancelled_in_the_worker_stops_and_keeps_the_active_version(
    celery_worker, dataset, upload, owner
):
    upload(dataset, corpus(1))
    job_wait(dataset_refill_start(dataset=dataset, user=owner).pk, _finished, worker=celery_worker)
    dataset.refresh_from_db()
    active = dataset.active_version
    upload(dataset, corpus(8), kind="slow-upload")
    job = dataset_refill_start(dataset=dataset, user=owner)
    job = job_wait(job.pk, lambda j: j.seen >= 2, worker=celery_worker)
    dataset_refill_cancel(job=job, user=owner)
    version = job.version
    job_wait(
        job.pk,
        lambda j: Version.objects.get(pk=version.pk).status == Version.Status.FAILED,
        worker=celery_worker,
    )
    job = RefillJob.objects.get(pk=job.pk)
    assert job.status == Status.CANCELLED
    dataset.refresh_from_db()
    assert dataset.active_version == active
    assert not version.entries.exists()


def test_the_beat_sends_again_a_job_whose_worker_and_message_are_gone(
    celery_worker, dataset, upload, owner
):
    upload(dataset, corpus(2))
    # As if a worker had claimed it and died, and its message were lost with Redis.
    job = RefillJob.objects.create(
        dataset=dataset,
        status=Status.RUNNING,
        lease_owner="a-worker-that-died",
        lease_expires_at=timezone.now() - timedelta(seconds=5),
        attempts=1,
    )
    dataset_refills_due()
    job = job_wait(job.pk, _finished, worker=celery_worker)
    assert job.status == Status.SUCCEEDED and job.attempts == 2


@pytest.fixture(autouse=True)
def _document_delay(monkeypatch):
    # Read by the slow-upload kind in the worker (tests/datasets/slow_worker.py).
    monkeypatch.setenv("AIPORTAL_TEST_DOCUMENT_DELAY_S", "0.4")


def test_a_transient_source_failure_is_retried_by_the_task_until_it_works(
    celery_worker, dataset, upload, owner
):
    upload(dataset, corpus(2), kind="flaky-upload", failures=2)
    job = dataset_refill_start(dataset=dataset, user=owner)
    job = job_wait(job.pk, _finished, worker=celery_worker)
    assert job.status == Status.SUCCEEDED, job.message
    assert job.attempts == 3 and job.counts["added"] == 2


def test_a_source_that_keeps_failing_fails_the_job_after_the_retries(
    celery_worker, dataset, upload, owner
):
    upload(dataset, corpus(1))
    job_wait(dataset_refill_start(dataset=dataset, user=owner).pk, _finished, worker=celery_worker)
    dataset.refresh_from_db()
    active = dataset.active_version
    upload(dataset, corpus(2), kind="flaky-upload", failures=100)
    job = dataset_refill_start(dataset=dataset, user=owner)
    job = job_wait(job.pk, _finished, worker=celery_worker)
    # The worker's AIPORTAL_DATASET_REFILL_RETRIES is 2: three attempts, then failed.
    assert job.status == Status.FAILED and job.attempts == 3
    assert job.message == "503 on read 3"
    dataset.refresh_from_db()
    assert dataset.active_version == active
