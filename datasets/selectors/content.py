"""Reads of a dataset's versions, documents, sources and refill jobs."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from datasets.models import (
    Chunk,
    Dataset,
    Level,
    RefillJob,
    Source,
    Version,
    VersionDocument,
)
from datasets.selectors.access import dataset_get


def version_list(*, user: User | None, dataset: Dataset) -> QuerySet[Version]:
    dataset_get(user=user, id=dataset.pk)
    return Version.objects.filter(dataset=dataset).order_by("-number")


def version_get(*, user: User | None, id: int, at_least: Level = Level.VIEW) -> Version:
    """Raises ``Version.DoesNotExist`` for a missing id and another dataset's alike."""
    try:
        version = Version.objects.select_related("dataset").get(pk=id)
        dataset_get(user=user, id=version.dataset_id, at_least=at_least)
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise Version.DoesNotExist from None
    return version


def document_list(
    *, user: User | None, dataset: Dataset, version: Version | None = None
) -> QuerySet[VersionDocument]:
    """The documents of ``version`` (default: the active one), by key. Another version's
    documents are for managers only (they may roll back to it): for everyone else a refill
    that removed a document removed it."""
    dataset = dataset_get(user=user, id=dataset.pk)
    version_id = version.pk if version is not None else dataset.active_version_id
    if version is not None and version.dataset_id != dataset.pk:
        return VersionDocument.objects.none()
    if version_id != dataset.active_version_id:
        try:
            dataset_get(user=user, id=dataset.pk, at_least=Level.MANAGE)
        except Dataset.DoesNotExist:
            return VersionDocument.objects.none()
    return (
        VersionDocument.objects.filter(version_id=version_id)
        .select_related("document")
        .defer("document__text")
        .order_by("key")
    )


def source_list(*, user: User | None, dataset: Dataset) -> QuerySet[Source]:
    dataset_get(user=user, id=dataset.pk)
    return Source.objects.filter(dataset=dataset)


def refill_job_list(*, user: User | None, dataset: Dataset) -> QuerySet[RefillJob]:
    dataset_get(user=user, id=dataset.pk)
    return RefillJob.objects.filter(dataset=dataset).select_related("triggered_by")


def refill_job_get(*, user: User | None, id: int, at_least: Level = Level.VIEW) -> RefillJob:
    """Raises ``RefillJob.DoesNotExist`` for a missing id and another dataset's alike."""
    try:
        job = RefillJob.objects.select_related("dataset").get(pk=id)
        dataset_get(user=user, id=job.dataset_id, at_least=at_least)
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise RefillJob.DoesNotExist from None
    return job


def chunk_passage_get(*, user: User | None, id: int) -> dict:
    """One chunk's text and context with its document's title, for a citation: the user
    must be able to query its dataset now, and the active version must hold the chunk's
    document. A chunk a refill removed (or one only a building, retired or failed version
    links) answers ``Chunk.DoesNotExist`` exactly like a missing id or another dataset's:
    documents stay stored while old versions are kept for rollback, but removing one means
    nobody reads it through the app any more (the admin's version browser is staff-only)."""
    try:
        chunk = Chunk.objects.select_related("document").get(pk=id)
        dataset = dataset_get(user=user, id=chunk.document.dataset_id, at_least=Level.QUERY)
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise Chunk.DoesNotExist from None
    entry = (
        VersionDocument.objects.filter(
            document_id=chunk.document_id, version_id=dataset.active_version_id
        )
        .order_by("key")
        .first()
    )
    if entry is None:
        raise Chunk.DoesNotExist
    return {
        "chunk": chunk.pk,
        "text": chunk.text,
        "context": chunk.context,
        "title": entry.title,
        "key": entry.key,
        "url": entry.url,
        "dataset": {"id": dataset.pk, "name": dataset.name},
    }
