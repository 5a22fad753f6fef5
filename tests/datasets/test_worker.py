"""Refills through a real Celery worker process against Redis and the test database:
end to end, two requests at once, cancel, and the beat's recovery of a job whose message is
gone. A worker killed with SIGKILL mid-refill: tests/faults/test_celery_worker_killed.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from datasets.models import RefillJob, Version
from datasets.selectors import chunk_search
from datasets.services.refill import (
    dataset_refill_cancel,
    dataset_refill_start,
    dataset_refills_due,
)
from tests.datasets.conftest import corpus, job_wait
from tests.datasets.files import make_flate_pdf, make_pdf

Status = RefillJob.Status
FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}


def _finished(job) -> bool:
    return job.status in FINISHED


def test_a_refill_runs_end_to_end_in_the_worker(celery_worker, dataset, upload, owner):
    upload(dataset, corpus(3))
    job = dataset_refill_start(dataset=dataset, user=owner)  # dispatched on commit
    job = job_wait(job.pk, _finished, worker=celery_worker)
    assert job.status == Status.SUCCEEDED, job.message
    assert job.counts == {
        "seen": 3,
        "added": 3,
        "reused": 0,
        "removed": 0,
        "errors": 0,
        "embedded": 0,
        "to_embed": 0,
    }
    hits = chunk_search(user=owner, query="marker1x2", dataset_ids=[dataset.pk])
    assert [hit.key for hit in hits] == ["upload:doc01.txt"]


def test_the_worker_reads_pdfs_in_a_bounded_child_and_stops_a_slow_one(
    celery_worker, dataset, upload, owner
):
    # The worker's own settings: a PDF of 60 000 text operators takes pypdf well over its
    # default 60 seconds' share of this test, so the deadline is made short for the worker.
    celery_worker.stop()
    celery_worker.env["AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT_S"] = "1"
    celery_worker.start()
    slow = make_flate_pdf(b"BT /F1 12 Tf 0 0 Td (x) Tj ET\n" * 60_000)
    upload(dataset, {"fine.pdf": make_pdf(["numbat sightings"]), "slow.pdf": slow})
    job = dataset_refill_start(dataset=dataset, user=owner)
    job = job_wait(job.pk, _finished, worker=celery_worker)
    assert job.status == Status.SUCCEEDED, job.message
    assert [e["key"] for e in job.errors] == ["upload:slow.pdf"]
    assert "took longer than 1 seconds" in job.errors[0]["message"]
    hits = chunk_search(user=owner, query="numbat", dataset_ids=[dataset.pk])
    assert [hit.key for hit in hits] == ["upload:fine.pdf"]


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
