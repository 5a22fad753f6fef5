"""The refill engine in this process (the task calls exactly this service): versions,
reuse by checksum, deletions, errors, failure, retry, cancel, leases, retention, rollback
and schedules. tests/datasets/test_worker.py runs it through a real Celery worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from datasets.models import Chunk, Document, RefillJob, Version, VersionDocument
from datasets.selectors import chunk_search
from datasets.services import dataset_update
from datasets.services.chunking import document_chunk
from datasets.services.refill import (
    RefillHeld,
    RefillRetry,
    dataset_refill_cancel,
    dataset_refill_start,
    dataset_refills_due,
    dataset_version_activate,
    refill_job_run,
)
from datasets.sources import SourceError

pytestmark = pytest.mark.django_db

Status = RefillJob.Status


def _text(word: str, paragraphs: int = 6) -> str:
    return "\n\n".join(
        f"{word} paragraph {n} " + "filler words here " * 30 for n in range(paragraphs)
    )


FILES = {"alpha.txt": _text("aardvark"), "beta.txt": _text("bison"), "gamma.txt": _text("cheetah")}


def _expected_chunks(texts) -> int:
    # Plain text: the title does not change how it is cut, only each chunk's context.
    return sum(
        len(
            document_chunk(
                t,
                title="",
                markdown=False,
                tokens=settings.AIPORTAL_DATASET_CHUNK_TOKENS,
                overlap=settings.AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS,
            )
        )
        for t in texts
    )


def _stored_file_lose(dataset, source, name: str) -> None:
    """The stored upload disappears (a disk cleaned by hand, a restore that missed it)."""
    from datasets.services import dataset_files_dir

    (stored,) = [f["stored"] for f in source.config["files"] if f["name"] == name]
    (dataset_files_dir(dataset=dataset) / stored).unlink()


def _search(user, dataset, query):
    return chunk_search(user=user, query=query, dataset_ids=[dataset.pk], limit=50)


def test_a_first_refill_builds_and_activates_version_one(dataset, upload, refill_now, owner):
    upload(dataset, FILES)
    job = refill_now(dataset)
    assert job.status == Status.SUCCEEDED and job.progress == 1.0
    assert job.counts == {
        "seen": 3,
        "added": 3,
        "reused": 0,
        "removed": 0,
        "errors": 0,
        "embedded": 0,
        "to_embed": 0,
    }
    assert job.triggered_by == owner and job.attempts == 1 and job.lease_owner == ""
    version = dataset.active_version
    assert version.number == 1 and version.status == Version.Status.ACTIVE
    assert version.documents == 3 and version.chunks == _expected_chunks(FILES.values())
    assert Chunk.objects.count() == version.chunks
    hits = _search(owner, dataset, "bison")
    assert hits and {h.key for h in hits} == {"upload:beta.txt"}
    assert hits[0].title == "beta.txt" and hits[0].dataset_id == dataset.pk


def test_a_refill_of_unchanged_uploads_reuses_every_document(dataset, upload, refill_now):
    upload(dataset, FILES)
    refill_now(dataset)
    chunks_before = set(Chunk.objects.values_list("pk", flat=True))
    first = dataset.active_version
    upload(dataset, FILES)  # uploaded again: new stored names, the same bytes
    job = refill_now(dataset)
    assert job.counts == {
        "seen": 3,
        "added": 0,
        "reused": 3,
        "removed": 0,
        "errors": 0,
        "embedded": 0,
        "to_embed": 0,
    }
    assert set(Chunk.objects.values_list("pk", flat=True)) == chunks_before  # nothing new
    assert Document.objects.count() == 3
    assert dataset.active_version.number == 2
    assert dataset.active_version.chunks == first.chunks == len(chunks_before)
    first.refresh_from_db()
    assert first.status == Version.Status.RETIRED


def test_changes_and_deletions_reach_the_new_version_only(dataset, upload, refill_now, owner):
    upload(dataset, FILES)
    refill_now(dataset)
    changed = {"alpha.txt": _text("armadillo"), "beta.txt": FILES["beta.txt"], "new.txt": "dingo"}
    upload(dataset, changed)
    job = refill_now(dataset)
    assert job.counts == {
        "seen": 3,
        "added": 2,
        "reused": 1,
        "removed": 1,
        "errors": 0,
        "embedded": 0,
        "to_embed": 0,
    }
    assert not _search(owner, dataset, "aardvark")  # changed away
    assert not _search(owner, dataset, "cheetah")  # deleted
    assert _search(owner, dataset, "armadillo") and _search(owner, dataset, "dingo")
    keys = set(dataset.active_version.entries.values_list("key", flat=True))
    assert keys == {"upload:alpha.txt", "upload:beta.txt", "upload:new.txt"}


def test_a_document_that_cannot_be_read_is_recorded_and_the_rest_goes_on(
    dataset, upload, refill_now, owner
):
    source = upload(dataset, {"good.txt": "emu feathers", "bad.txt": "gone before the refill"})
    _stored_file_lose(dataset, source, "bad.txt")
    job = refill_now(dataset)
    assert job.status == Status.SUCCEEDED
    assert job.counts["errors"] == 1 and job.counts["added"] == 1
    assert [error["key"] for error in job.errors] == ["upload:bad.txt"]
    assert "missing" in job.errors[0]["message"]
    assert _search(owner, dataset, "emu")


def test_when_no_document_can_be_read_the_active_version_is_kept(dataset, upload, refill_now):
    upload(dataset, FILES)
    refill_now(dataset)
    active = dataset.active_version
    source = upload(dataset, {"bad.txt": "gone before the refill"})
    _stored_file_lose(dataset, source, "bad.txt")
    job = refill_now(dataset)
    assert job.status == Status.FAILED and "No document could be read" in job.message
    assert dataset.active_version == active


def _failing_source(monkeypatch, *, retryable: bool):
    """A source (the edge of the world) that yields one document, then fails whole."""
    from datasets import sources

    real = sources.iter_documents

    def iter_documents(**kwargs):
        yield next(iter(real(**kwargs)))
        raise SourceError("the server went away", retryable=retryable)

    monkeypatch.setattr(sources, "iter_documents", iter_documents)


def test_a_failing_source_leaves_the_active_version_untouched(
    dataset, upload, refill_now, owner, monkeypatch
):
    upload(dataset, FILES)
    refill_now(dataset)
    active = dataset.active_version
    _failing_source(monkeypatch, retryable=False)
    upload(dataset, {"alpha.txt": "zebra"})
    job = refill_now(dataset)
    assert job.status == Status.FAILED and job.message == "the server went away"
    assert dataset.active_version == active
    failed = Version.objects.get(pk=job.version_id)
    assert failed.status == Version.Status.FAILED and not failed.entries.exists()
    assert _search(owner, dataset, "aardvark") and not _search(owner, dataset, "zebra")


def test_a_transient_failure_is_retried_a_bounded_number_of_times(
    dataset, upload, settings, monkeypatch
):
    settings.AIPORTAL_DATASET_REFILL_RETRIES = 2
    upload(dataset, FILES)
    _failing_source(monkeypatch, retryable=True)
    job = dataset_refill_start(dataset=dataset, user=None)
    for attempt in (1, 2):
        with pytest.raises(RefillRetry) as retry:
            refill_job_run(job_id=job.pk, worker="w")
        assert retry.value.attempt == attempt
        job.refresh_from_db()
        assert job.status == Status.QUEUED and job.lease_owner == ""
        assert Version.objects.get(pk=job.version_id).status == Version.Status.FAILED
    assert refill_job_run(job_id=job.pk, worker="w") == "failed"
    job.refresh_from_db()
    assert job.status == Status.FAILED and job.attempts == 3
    dataset.refresh_from_db()
    assert dataset.active_version is None


def test_a_second_request_joins_the_queued_refill(dataset, owner):
    first = dataset_refill_start(dataset=dataset, user=owner)
    assert dataset_refill_start(dataset=dataset, user=None) == first
    assert RefillJob.objects.count() == 1


def test_a_cancelled_queued_refill_never_runs(dataset, upload, owner):
    upload(dataset, FILES)
    job = dataset_refill_start(dataset=dataset, user=owner)
    job = dataset_refill_cancel(job=job, user=owner)
    assert job.status == Status.CANCELLED and job.finished is not None
    assert refill_job_run(job_id=job.pk, worker="w") == "skipped"
    assert not Version.objects.exists()


def test_a_refill_cancelled_while_it_runs_stops_and_changes_nothing(
    dataset, upload, refill_now, owner, settings, monkeypatch
):
    from datasets import sources

    upload(dataset, FILES)
    refill_now(dataset)
    active = dataset.active_version
    settings.AIPORTAL_DATASET_PROGRESS_INTERVAL = 0
    real = sources.iter_documents

    def cancelled_midway(**kwargs):
        for n, item in enumerate(real(**kwargs)):
            if n == 1:  # a person presses "cancel" while the second document is read
                dataset_refill_cancel(job=RefillJob.objects.get(status=Status.RUNNING), user=owner)
            yield item

    monkeypatch.setattr(sources, "iter_documents", cancelled_midway)
    upload(dataset, {"x.txt": "yak", **FILES})
    job = dataset_refill_start(dataset=dataset, user=owner)
    assert refill_job_run(job_id=job.pk, worker="w") == "stopped"
    job.refresh_from_db()
    dataset.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert dataset.active_version == active
    assert Version.objects.get(pk=job.version_id).status == Version.Status.FAILED
    assert not _search(owner, dataset, "yak")


def test_a_live_lease_keeps_others_out_and_an_expired_one_is_taken_over(dataset, upload):
    upload(dataset, FILES)
    job = dataset_refill_start(dataset=dataset, user=None)
    RefillJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING,
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )
    with pytest.raises(RefillHeld):
        refill_job_run(job_id=job.pk, worker="second")
    # The dead worker had started a version before it died.
    leftover = Version.objects.create(dataset=dataset, number=1)
    RefillJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert refill_job_run(job_id=job.pk, worker="second") == "succeeded"
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.attempts == 1
    # Failed when the new build started, then removed by retention after the switch.
    assert not Version.objects.filter(pk=leftover.pk).exists()
    dataset.refresh_from_db()
    assert dataset.active_version.number == 2


def test_a_finished_job_delivered_again_does_nothing(dataset, upload, refill_now):
    upload(dataset, FILES)
    job = refill_now(dataset)
    assert refill_job_run(job_id=job.pk, worker="again") == "skipped"
    assert refill_job_run(job_id=job.pk + 1000, worker="again") == "skipped"
    assert Version.objects.count() == 1


def test_old_versions_beyond_the_kept_number_and_their_documents_go(
    dataset, upload, refill_now, owner
):
    dataset_update(dataset=dataset, user=owner, keep_versions=1)
    for n in range(4):
        upload(dataset, {"a.txt": f"version{n} " * 50, "same.txt": "constant content"})
        refill_now(dataset)
    numbers = dict(Version.objects.values_list("number", "status"))
    assert numbers == {4: "active", 3: "retired"}
    # Only the documents versions 3 and 4 link are left: "a.txt" twice, "same.txt" once.
    assert Document.objects.count() == 3
    assert not Document.objects.exclude(entries__isnull=False).exists()
    assert not _search(owner, dataset, "version1")


def test_rolling_back_to_a_kept_version(dataset, upload, refill_now, owner):
    upload(dataset, {"a.txt": "okapi"})
    refill_now(dataset)
    first = dataset.active_version
    upload(dataset, {"a.txt": "quokka"})
    refill_now(dataset)
    second = dataset.active_version
    dataset = dataset_version_activate(dataset=dataset, version=first, user=owner)
    assert dataset.active_version == first
    assert _search(owner, dataset, "okapi") and not _search(owner, dataset, "quokka")
    second.refresh_from_db()
    assert second.status == Version.Status.RETIRED
    with pytest.raises(ValueError, match="only a retired one"):
        dataset_version_activate(dataset=dataset, version=first, user=owner)


def test_a_rollback_waits_for_a_running_refill(dataset, upload, refill_now, owner):
    upload(dataset, {"a.txt": "okapi"})
    refill_now(dataset)
    upload(dataset, {"a.txt": "quokka"})
    refill_now(dataset)
    first = Version.objects.get(number=1)
    RefillJob.objects.create(dataset=dataset, status=Status.RUNNING, lease_owner="w")
    with pytest.raises(ValueError, match="A refill is running"):
        dataset_version_activate(dataset=dataset, version=first, user=owner)


def test_schedules_start_the_refills_that_are_due(dataset, owner, make_user):
    from datasets.services import dataset_create

    manual = dataset_create(user=owner, name="Manual")
    dataset_update(dataset=dataset, user=owner, schedule_minutes=30)
    recent = dataset_create(user=owner, name="Recent", schedule_minutes=30)
    RefillJob.objects.create(dataset=recent, status=Status.SUCCEEDED)
    old = dataset_create(user=owner, name="Old", schedule_minutes=30)
    RefillJob.objects.filter(
        pk=RefillJob.objects.create(dataset=old, status=Status.FAILED).pk
    ).update(created=timezone.now() - timedelta(minutes=31))
    started = dataset_refills_due()
    assert {job.dataset_id for job in started} == {dataset.pk, old.pk}
    assert all(job.triggered_by is None for job in started)
    assert not manual.refill_jobs.exists()
    # Not due again until the job just started is older than the schedule.
    assert dataset_refills_due() == []
    assert RefillJob.objects.filter(status=Status.QUEUED).count() == 2


def test_a_version_links_documents_without_copying_them(dataset, upload, refill_now):
    upload(dataset, {"a.txt": "same bytes", "b.txt": "same bytes"})
    job = refill_now(dataset)
    assert job.counts["added"] == 1 and job.counts["reused"] == 1
    assert Document.objects.count() == 1
    assert VersionDocument.objects.filter(version=dataset.active_version).count() == 2


def test_a_key_two_sources_share_is_kept_once_and_reported(dataset, upload, refill_now, owner):
    from datasets.services import source_add

    first = upload(dataset, {"a.txt": "first wombat"})
    source_add(dataset=dataset, user=owner, kind="upload", config=first.config)
    job = refill_now(dataset)
    assert job.status == Status.SUCCEEDED and job.counts["seen"] == 2
    assert job.errors == [
        {"key": "upload:a.txt", "message": "Two documents have this key; the first one is kept."}
    ]
    assert dataset.active_version.documents == 1


def test_a_job_whose_workers_keep_dying_is_given_up(dataset, upload, settings):
    settings.AIPORTAL_DATASET_REFILL_RETRIES = 2
    upload(dataset, FILES)
    job = RefillJob.objects.create(
        dataset=dataset,
        status=Status.RUNNING,
        lease_owner="died-again",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        attempts=3,
    )
    assert refill_job_run(job_id=job.pk, worker="w") == "failed"
    job.refresh_from_db()
    assert (
        job.status == Status.FAILED and job.message == "Gave up after 3 attempts whose worker died."
    )
    dataset.refresh_from_db()
    assert dataset.active_version is None
