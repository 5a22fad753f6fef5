"""The refill engine: build a new version of a dataset from its sources, then switch to it.

The rules it keeps, and where:
- One active job per dataset: ``dataset_refill_start`` creates one or joins the queued or
  running one; the partial unique index ``dataset_one_active_refill`` settles two requests
  racing (the loser's INSERT fails and it joins the winner's job).
- One runner per job: the task claims the job with a conditional UPDATE that takes a lease
  (``lease_owner``, ``lease_expires_at``, on the database's clock); a heartbeat thread renews
  it while the build works. A worker that died stops renewing, and the redelivered message
  (``acks_late``) or the beat's recovery sweep claims the job again once the lease ran out.
  Every later write of a runner is conditional on still holding the lease, so a runner that
  lost it (or whose job was cancelled) stops at its next write and never switches versions.
- Readers never see a half-built dataset: documents are linked into a ``building`` version,
  and ``dataset.active_version`` moves to it in one transaction, only when complete.
- Unchanged content is not read twice: documents are stored once per dataset per checksum
  (with their chunks, in one transaction, so a document row always has all its chunks), and a
  document whose checksum the dataset already has is linked, not extracted or chunked again.
  That also makes a taken-over job cheap: what the dead worker stored is reused.
- Vectors likewise: a chunk is embedded once per embedding model (``ChunkEmbedding``), after
  the documents are stored and before the switch, so only chunks new to the dataset (or to
  the model) go to the embedding workers; if they fail, the build fails like a source would
  (retried when the error is retryable) and the active version stays as it was.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from datetime import timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from common.tasks import task_enqueue
from datasets import sources
from datasets.models import Chunk, Dataset, Document, Level, RefillJob, Version, VersionDocument
from datasets.selectors import dataset_level_require
from datasets.services.chunking import Piece, document_chunk
from datasets.services.events import job_publish
from datasets.services.storage import dataset_files_dir, stored_files_sweep
from datasets.services.vectors import version_embed
from datasets.sources.base import DocumentError, SourceDocument, SourceError

logger = logging.getLogger(__name__)

Status = RefillJob.Status
_ENTRY_BATCH = 500
# New documents stored per transaction: up to this many, or this much text.
_STORE_BATCH = 100
_STORE_BATCH_CHARS = 4_000_000
_KEY_MAX_BYTES = 2000


class RefillRetry(Exception):
    """A source failed in a way a later attempt may not: the task retries with backoff.
    Attempts are counted on the job (each claim is one), not by Celery, so a takeover and a
    retry count alike and the bound holds across redeliveries."""

    def __init__(self, message: str, *, attempt: int) -> None:
        super().__init__(message)
        self.attempt = attempt


class RefillHeld(Exception):
    """Another worker holds the job under a live lease: try again once it may have run out
    (that worker may have died, and this message may be the only one left)."""


class _Stop(Exception):
    """The runner no longer holds the job: it was cancelled, or another worker took it."""


def _lease() -> timedelta:
    return timedelta(seconds=settings.AIPORTAL_DATASET_LEASE)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def retry_delay(*, retries: int) -> float:
    """Exponential backoff with full jitter, capped at 15 minutes (below the broker's
    visibility timeout, so a waiting retry is not redelivered early)."""
    ceiling = min(900.0, settings.AIPORTAL_DATASET_RETRY_BACKOFF * 2.0**retries)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 -- jitter, not a secret


# --- Starting, cancelling, rolling back -------------------------------------------------------


def _dispatch(job_id: int) -> None:
    # In the background even in the embedded default: the page returns and follows it live.
    task_enqueue("datasets.tasks.dataset_refill_run", job_id, background=True)


def dataset_refill_start(
    *, dataset: Dataset, user: User | None, as_admin: bool = False, ip: str | None = None
) -> RefillJob:
    """Queue a refill, or join the one queued or running (edit level; ``user=None`` is the
    schedule). The task is sent once the transaction commits, so it finds its row."""
    if user is not None:
        dataset_level_require(user=user, dataset=dataset, level=Level.EDIT, as_admin=as_admin)
    for _attempt in range(5):
        job = RefillJob.objects.filter(dataset=dataset, status__in=RefillJob.ACTIVE).first()
        if job is not None:
            return job
        try:
            with transaction.atomic():
                job = RefillJob.objects.create(dataset=dataset, triggered_by=user)
                audit_record(
                    actor=user,
                    action="dataset.refill.start",
                    target_type="dataset",
                    target_id=dataset.pk,
                    detail={"job": job.pk, "scheduled": user is None},
                    ip=ip,
                )
        except IntegrityError:
            # Another request created the active job between our read and our insert.
            continue
        transaction.on_commit(partial(_dispatch, job.pk))
        transaction.on_commit(partial(job_publish, job=job))
        return job
    raise RuntimeError(f"could not start or join a refill of dataset {dataset.pk}")


def dataset_refill_cancel(
    *, job: RefillJob, user: User, as_admin: bool = False, ip: str | None = None
) -> RefillJob:
    """Cancel a queued or running refill (edit level). A running one stops at its next
    heartbeat; the active version is left as it was."""
    dataset_level_require(user=user, dataset=job.dataset, level=Level.EDIT, as_admin=as_admin)
    with transaction.atomic():
        cancelled = RefillJob.objects.filter(pk=job.pk, status__in=RefillJob.ACTIVE).update(
            status=Status.CANCELLED,
            finished=Now(),
            lease_owner="",
            lease_expires_at=None,
            message=f"Cancelled by {user.email or user.pk}.",
        )
        if cancelled:
            audit_record(
                actor=user,
                action="dataset.refill.cancel",
                target_type="dataset",
                target_id=job.dataset_id,
                detail={"job": job.pk, "as_admin": as_admin},
                ip=ip,
            )
    job.refresh_from_db()
    job_publish(job=job)
    return job


@transaction.atomic
def dataset_version_activate(
    *, dataset: Dataset, version: Version, user: User, as_admin: bool = False
) -> Dataset:
    """Roll back (or forward) to a retired version that is still kept (manage level)."""
    dataset_level_require(user=user, dataset=dataset, level=Level.MANAGE, as_admin=as_admin)
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    try:
        version = Version.objects.select_for_update().get(pk=version.pk, dataset=dataset)
    except Version.DoesNotExist:
        raise Version.DoesNotExist from None
    if version.status != Version.Status.RETIRED:
        raise ValueError(
            _("Version %(number)s is %(status)s: only a retired one can be activated.")
            % {"number": version.number, "status": version.get_status_display()}
        )
    if RefillJob.objects.filter(dataset=dataset, status=Status.RUNNING).exists():
        # Its switch at the end would undo the rollback a moment later.
        raise ValueError(_("A refill is running: cancel it first, or wait for it to finish."))
    Version.objects.filter(dataset=dataset, status=Version.Status.ACTIVE).update(
        status=Version.Status.RETIRED
    )
    version.status = Version.Status.ACTIVE
    version.save(update_fields=["status"])
    dataset.active_version = version
    dataset.save(update_fields=["active_version", "updated"])
    return dataset


def dataset_refills_due() -> list[RefillJob]:
    """Run every minute by Celery beat: start the refills whose schedule is due, and send
    again the jobs whose worker died (lease run out) in case their message is gone too."""
    now = timezone.now()
    started = []
    for dataset in Dataset.objects.filter(schedule_minutes__gt=0).annotate(
        last=Max("refill_jobs__created")
    ):
        if dataset.last is None or dataset.last <= now - timedelta(
            minutes=dataset.schedule_minutes
        ):
            started.append(dataset_refill_start(dataset=dataset, user=None))
    for job_id in RefillJob.objects.filter(
        status=Status.RUNNING, lease_expires_at__lt=Now()
    ).values_list("pk", flat=True):
        _dispatch(job_id)
    return started


# --- Running a job ---------------------------------------------------------------------------


def _claim(*, job_id: int, worker: str) -> RefillJob | None:
    # Claim with a conditional UPDATE: a redelivered message or a second worker may race for
    # the same job, and only one UPDATE can match. A running job is claimable only once its
    # lease has run out (its worker died); the database's clock decides, not ours.
    claimed = (
        RefillJob.objects.filter(pk=job_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_expires_at__lt=Now()))
        .update(
            status=Status.RUNNING,
            lease_owner=worker,
            lease_expires_at=Now() + _lease(),
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    RefillJob.objects.filter(pk=job_id, started__isnull=True).update(started=Now())
    return RefillJob.objects.select_related("dataset").get(pk=job_id)


def refill_job_run(*, job_id: int, worker: str) -> str:
    """Run one job to its end; returns what happened (for the task's log). A job that is
    finished or cancelled is left alone, so redelivery is harmless; one held by a live
    worker raises ``RefillHeld`` (the task looks again after a lease's length)."""
    job = _claim(job_id=job_id, worker=worker)
    if job is None:
        if RefillJob.objects.filter(pk=job_id, status=Status.RUNNING).exists():
            raise RefillHeld
        return "skipped"
    build = _Build(job=job, worker=worker)
    if job.attempts > settings.AIPORTAL_DATASET_REFILL_RETRIES + 1:
        # Claimed again and again: its workers keep dying on it (out of memory on one huge
        # document, the hard time limit). Stop handing it out, or it takes them all down.
        build.fail(f"Gave up after {job.attempts - 1} attempts whose worker died.")
        return "failed"
    heartbeat = _Heartbeat(job_id=job.pk, worker=worker)
    heartbeat.start()
    try:
        build.run(lost=heartbeat.lost)
        return "succeeded"
    except _Stop:
        build.stopped()
        return "stopped"
    except SourceError as exc:
        if exc.retryable and job.attempts <= settings.AIPORTAL_DATASET_REFILL_RETRIES:
            build.release(exc.message)
            raise RefillRetry(exc.message, attempt=job.attempts) from exc
        build.fail(exc.message)
        return "failed"
    except SoftTimeLimitExceeded:
        build.fail("The refill took longer than its time limit.")
        return "failed"
    except Exception:
        logger.exception("refill job %s failed", job_id)
        build.fail("The refill failed with an internal error (see the worker's log).")
        return "failed"
    finally:
        heartbeat.stop()


class _Heartbeat(threading.Thread):
    """Renews the lease every third of its length, from its own thread (and database
    connection), so a slow document (a big PDF, a slow server) does not lose the job. Notes
    when the renewal no longer matches: cancelled, or taken by another worker."""

    def __init__(self, *, job_id: int, worker: str) -> None:
        super().__init__(name=f"refill-heartbeat-{job_id}", daemon=True)
        self.job_id = job_id
        self.worker = worker
        self._stop_event = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        interval = settings.AIPORTAL_DATASET_LEASE / 3
        try:
            while not self._stop_event.wait(interval):
                renewed = RefillJob.objects.filter(
                    pk=self.job_id, status=Status.RUNNING, lease_owner=self.worker
                ).update(lease_expires_at=Now() + _lease())
                if not renewed:
                    self.lost.set()
                    return
        except Exception:
            logger.warning("refill heartbeat of job %s failed", self.job_id, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


class _Build:
    def __init__(self, *, job: RefillJob, worker: str) -> None:
        self.job = job
        self.dataset = job.dataset
        self.worker = worker
        self.version: Version | None = None
        self.errors: list[dict[str, str]] = []
        self.last_write = time.monotonic()
        self.pending: list[tuple[str, str, str, str]] = []  # key, title, url, checksum
        self.keys: set[str] = set()
        self.checksums: set[str] = set()  # of the documents this version links
        self.bytes = 0
        self.chunks_added = 0
        # New content waiting to be stored in the next batch, by checksum.
        self.new: dict[str, SourceDocument] = {}
        self.new_chars = 0
        self.expected = 1

    # -- conditional writes: each one proves we still hold the job ---------------------------

    def _mine(self):
        return RefillJob.objects.filter(
            pk=self.job.pk, status=Status.RUNNING, lease_owner=self.worker
        )

    def _write(self, **fields) -> None:
        if not self._mine().update(**{"lease_expires_at": Now() + _lease(), **fields}):
            raise _Stop
        for name, value in fields.items():
            setattr(self.job, name, value)
        # After the commit when inside a transaction: a page that re-reads on the event
        # must find what it announces.
        transaction.on_commit(partial(job_publish, job=self.job))

    def _counts(self) -> dict:
        job = self.job
        return {
            "seen": job.seen,
            "added": job.added,
            "reused": job.reused,
            "removed": job.removed,
            "failed": job.failed,
            "errors": self.errors,
            "embedded": job.embedded,
            "to_embed": job.to_embed,
            "progress": self._fraction(),
        }

    def _fraction(self) -> float:
        documents = min(1.0, self.job.seen / self.expected)
        if not self.version or not self.version.embedding_model:
            return min(0.99, documents)
        # With embeddings, reading documents is the first half and embedding the second.
        embedded = self.job.embedded / self.job.to_embed if self.job.to_embed else 0.0
        return min(0.99, documents / 2 + embedded / 2)

    def _progress(self, lost: threading.Event, *, force: bool = False) -> None:
        if lost.is_set():
            raise _Stop
        interval = settings.AIPORTAL_DATASET_PROGRESS_INTERVAL
        if force or time.monotonic() - self.last_write >= interval:
            # Store what is waiting first: a worker that dies loses at most one interval's
            # work, and the progress written never counts documents not stored yet.
            self._flush()
            self._write(**self._counts())
            self.last_write = time.monotonic()

    # -- the build ---------------------------------------------------------------------------

    def run(self, *, lost: threading.Event) -> None:
        self._version_start()
        active_id = Dataset.objects.filter(pk=self.dataset.pk).values_list(
            "active_version_id", flat=True
        )[0]
        active_keys = set(
            VersionDocument.objects.filter(version_id=active_id).values_list("key", flat=True)
        )
        self.expected = max(1, len(active_keys))
        stored = Document.objects.filter(dataset=self.dataset).values_list(
            "checksum", "pk", "chunk_count"
        )
        self.by_checksum = {checksum: pk for checksum, pk, _ in stored}
        self.chunk_counts = {pk: count for _, pk, count in stored}
        files_dir = dataset_files_dir(dataset=self.dataset)
        source_list = list(self.dataset.sources.select_related("added_by", "dataset__owner"))
        uploads = sum(len(s.config.get("files", [])) for s in source_list if s.kind == "upload")
        self.expected = max(self.expected, uploads)
        for source in source_list:
            items = sources.iter_documents(
                kind=source.kind,
                config=source.config,
                files_dir=files_dir,
                known=self._known,
                reader=source.added_by or source.dataset.owner,
            )
            for item in items:
                self.job.seen += 1
                self._take(item)
                self._progress(lost)
        self._flush()
        self.job.removed = len(active_keys - self.keys)
        self._progress(lost, force=True)
        if self.job.seen and not self.keys:
            raise SourceError(
                "No document could be read; the active version is kept.", retryable=False
            )
        self._embed(lost)
        self._switch()
        self._retention()

    def _embed(self, lost: threading.Event) -> None:
        def progress(done: int, total: int) -> None:
            self.job.embedded, self.job.to_embed = done, total
            self._progress(lost, force=done in (0, total))

        version_embed(version=self.version, dataset=self.dataset, progress=progress)

    def _known(self, key: str, checksum: str) -> bool:
        # Wider than "this key had this checksum": the same bytes anywhere in the dataset
        # (another key, or stored by the dead worker this job took over from) are reused too.
        return checksum in self.by_checksum or checksum in self.new

    def _version_start(self) -> None:
        with transaction.atomic():
            # A building version left by a worker that died is failed in the transaction that
            # creates ours (one building version per dataset, by constraint).
            for leftover in Version.objects.select_for_update().filter(
                dataset=self.dataset, status=Version.Status.BUILDING
            ):
                _version_discard(leftover)
            number = (
                Version.objects.filter(dataset=self.dataset).aggregate(n=Max("number"))["n"] or 0
            ) + 1
            # The deployment's embedding model now, for the whole build: a model changed
            # while it runs reaches the next refill, never half of this one's chunks.
            self.version = Version.objects.create(
                dataset=self.dataset,
                number=number,
                embedding_model=settings.AIPORTAL_EMBEDDING_MODEL,
            )
            self._write(
                version=self.version,
                seen=0,
                added=0,
                reused=0,
                removed=0,
                failed=0,
                embedded=0,
                to_embed=0,
                errors=[],
                progress=0.0,
                message="",
            )

    def _error(self, key: str, message: str) -> None:
        self.job.failed += 1
        if len(self.errors) < settings.AIPORTAL_DATASET_JOB_MAX_ERRORS:
            self.errors.append({"key": key[:500], "message": message[:1000]})

    def _take(self, item: SourceDocument | DocumentError) -> None:
        if isinstance(item, DocumentError):
            self._error(item.key, item.message)
            return
        if len(item.key.encode()) > _KEY_MAX_BYTES:
            self._error(item.key, "The document's key (its name or address) is too long.")
            return
        if item.key in self.keys:
            self._error(item.key, "Two documents have this key; the first one is kept.")
            return
        if item.checksum not in self.by_checksum and item.checksum not in self.new:
            if item.text is None:
                self._error(item.key, "The source gave no text for new content.")
                return
            self.new[item.checksum] = item
            self.new_chars += len(item.text)
            self.job.added += 1
        else:
            self.job.reused += 1
        url = item.url if item.url.lower().startswith(("http://", "https://")) else ""
        self.pending.append((item.key, (item.title or item.key)[:500], url[:2000], item.checksum))
        self.checksums.add(item.checksum)
        self.keys.add(item.key)
        self.bytes += item.size
        if (
            len(self.pending) >= _ENTRY_BATCH
            or len(self.new) >= _STORE_BATCH
            or self.new_chars >= _STORE_BATCH_CHARS
        ):
            self._flush()

    def _documents_store(self, items: list[SourceDocument]) -> None:
        """Store new documents with their chunks, several per transaction (one commit and a
        few round trips per batch instead of per document). Each batch is all or nothing, so
        a document row always has every one of its chunks and whoever finds it later (a
        taken-over job) can link it as it is."""
        cut = [(item, _chunks_cut(item)) for item in items]
        try:
            with transaction.atomic():
                _commit_lazily()
                documents = Document.objects.bulk_create(
                    Document(
                        dataset=self.dataset,
                        checksum=item.checksum,
                        content_type=item.content_type[:200],
                        size=item.size,
                        text=item.text or "",
                        chunk_count=len(chunks),
                    )
                    for item, chunks in cut
                )
                Chunk.objects.bulk_create(
                    (
                        Chunk(document=document, ordinal=n, text=piece.text, context=piece.context)
                        for document, (_, chunks) in zip(documents, cut, strict=True)
                        for n, piece in enumerate(chunks)
                    ),
                    batch_size=1000,
                )
        except IntegrityError:
            # A runner that lost this job (and has not noticed yet) stored some of the same
            # bytes meanwhile: store one by one, taking the ones it stored as they are.
            if len(items) > 1:
                for item in items:
                    self._documents_store([item])
                return
            document = Document.objects.get(dataset=self.dataset, checksum=items[0].checksum)
            self.by_checksum[document.checksum] = document.pk
            self.chunk_counts[document.pk] = document.chunk_count
            return
        for document in documents:
            self.by_checksum[document.checksum] = document.pk
            self.chunk_counts[document.pk] = document.chunk_count
            self.chunks_added += document.chunk_count

    def _flush(self) -> None:
        if self.new:
            self._documents_store(list(self.new.values()))
            self.new, self.new_chars = {}, 0
        if self.pending:
            VersionDocument.objects.bulk_create(
                VersionDocument(
                    version=self.version,
                    document_id=self.by_checksum[checksum],
                    key=key,
                    title=title,
                    url=url,
                )
                for key, title, url, checksum in self.pending
            )
            self.pending = []

    def _switch(self) -> None:
        version = self.version
        linked = {self.by_checksum[checksum] for checksum in self.checksums}
        chunk_count = sum(self.chunk_counts[document_id] for document_id in linked)
        with transaction.atomic():
            # Conditional on still holding the job: a runner that lost its lease must not
            # switch, even if it got this far.
            if not self._mine().select_for_update().exists():
                raise _Stop
            dataset = Dataset.objects.select_for_update().get(pk=self.dataset.pk)
            Version.objects.filter(dataset=dataset, status=Version.Status.ACTIVE).update(
                status=Version.Status.RETIRED
            )
            Version.objects.filter(pk=version.pk).update(
                status=Version.Status.ACTIVE,
                finished=Now(),
                documents=len(self.keys),
                chunks=chunk_count,
                bytes=self.bytes,
            )
            Dataset.objects.filter(pk=dataset.pk).update(active_version=version, updated=Now())
            self._write(
                status=Status.SUCCEEDED,
                progress=1.0,
                finished=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
            )

    def _retention(self) -> None:
        keep = Dataset.objects.get(pk=self.dataset.pk).versions_kept
        retired = Version.objects.filter(
            dataset=self.dataset, status=Version.Status.RETIRED
        ).order_by("-number")
        old = list(retired.values_list("pk", flat=True)[keep:])
        old += Version.objects.filter(
            dataset=self.dataset, status=Version.Status.FAILED
        ).values_list("pk", flat=True)
        with transaction.atomic():
            Version.objects.filter(pk__in=old).delete()
            # Documents no kept version links any more (their chunks go with them), also
            # those a failed or cancelled build stored.
            # only(): the collector reads the rows it deletes, and their text is not needed.
            Document.objects.filter(dataset=self.dataset).exclude(
                Exists(VersionDocument.objects.filter(document=OuterRef("pk")))
            ).only("pk").delete()
        # Uploaded files replaced while this refill ran were left for it to finish reading.
        stored_files_sweep(dataset=self.dataset)
        if connection.vendor == "postgresql" and self.chunks_added > 10000:
            # A big first refill leaves the planner's statistics behind by orders of magnitude
            # until autovacuum comes by, and with them the search's choice of the GIN index.
            with connection.cursor() as cursor:
                cursor.execute(
                    "ANALYZE datasets_chunk, datasets_document, datasets_versiondocument"
                )

    # -- the other endings ----------------------------------------------------------------------

    def _discard_own_version(self) -> None:
        if self.version is not None:
            with transaction.atomic():
                _version_discard(self.version)

    def stopped(self) -> None:
        """Cancelled, or taken over. Only a cancelled job's version is ours to discard: a
        worker that took the job over discards what we built when it starts its own."""
        self.job.refresh_from_db()
        if self.job.status == Status.CANCELLED:
            self._discard_own_version()
            job_publish(job=self.job)

    def fail(self, message: str) -> None:
        self._discard_own_version()
        updated = self._mine().update(
            status=Status.FAILED,
            finished=Now(),
            lease_owner="",
            lease_expires_at=None,
            message=message,
            errors=self.errors,
            seen=self.job.seen,
            added=self.job.added,
            reused=self.job.reused,
            failed=self.job.failed,
            embedded=self.job.embedded,
            to_embed=self.job.to_embed,
        )
        if updated:
            self.job.refresh_from_db()
            job_publish(job=self.job)

    def release(self, message: str) -> None:
        """Back to the queue for a retry (the task sends it again with backoff)."""
        self._discard_own_version()
        self._mine().update(
            status=Status.QUEUED, lease_owner="", lease_expires_at=None, message=message
        )


def _chunks_cut(item: SourceDocument) -> list[Piece]:
    # Markdown is cut at its headings; the title the source found (the first heading, the
    # HTML <title>, the file name) heads every chunk's context.
    return document_chunk(
        item.text or "",
        title=item.title or item.key,
        markdown=item.content_type == "text/markdown",
        tokens=settings.AIPORTAL_DATASET_CHUNK_TOKENS,
        overlap=settings.AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS,
    )


def _commit_lazily() -> None:
    """Inside a document's own transaction on PostgreSQL: do not wait for the WAL flush at
    commit. A crash may lose the last few documents stored, which a refill only ever costs
    time (the job is taken over and stores them again); it never switches to a version whose
    documents are not durable, because the switch commits normally and WAL order means
    everything before it is flushed with it. It saves a disk flush per document."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _version_discard(version: Version) -> None:
    """A build that will never be switched to: its links go now, the row stays (failed) for
    the job's history until retention, its new documents until the next refill's sweep."""
    VersionDocument.objects.filter(version=version).delete()
    Version.objects.filter(pk=version.pk, status=Version.Status.BUILDING).update(
        status=Version.Status.FAILED, finished=Now()
    )
