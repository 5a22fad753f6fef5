"""A Celery worker killed with SIGKILL in the middle of a dataset refill: no warm shutdown, no
acknowledgement, no cleanup. Readers keep the dataset's active version until the job, handed
out again once its message's visibility timeout passes (``acks_late``), completes on the
retry; the documents the dead worker had stored are reused, never stored twice.

The worker is the real ``celery worker`` process of tests/datasets/conftest.py, against the
test database and Redis."""

from __future__ import annotations

import pytest
from django.conf import settings

from datasets.models import Chunk, Document, RefillJob
from datasets.selectors import chunk_search
from datasets.services.chunking import document_chunk
from datasets.services.refill import dataset_refill_start
from tests.datasets.conftest import corpus, job_wait

Status = RefillJob.Status
FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}


def _finished(job) -> bool:
    return job.status in FINISHED


@pytest.fixture(autouse=True)
def _document_delay(monkeypatch):
    # Read by the slow-upload kind in the worker (tests/datasets/slow_worker.py): time to
    # kill it halfway.
    monkeypatch.setenv("AIPORTAL_TEST_DOCUMENT_DELAY_S", "0.4")


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
    tokens = settings.AIPORTAL_DATASET_CHUNK_TOKENS
    overlap = settings.AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS
    expected = sum(
        len(document_chunk(text, title="", markdown=False, tokens=tokens, overlap=overlap))
        for text in documents.values()
    )
    assert version.chunks == expected
    assert Document.objects.filter(dataset=dataset).count() == 8
    assert Chunk.objects.filter(document__dataset=dataset).count() == expected
    # The new version lists each document once, and the retry built it, not a second one.
    assert version.entries.count() == 8
    assert RefillJob.objects.get(pk=job.pk).version_id == version.pk
    for i in range(8):
        hits = chunk_search(user=owner, query=f"marker{i}x3", dataset_ids=[dataset.pk])
        assert [hit.key for hit in hits] == [f"upload:doc{i:02}.txt"]
