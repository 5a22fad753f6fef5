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
    """The documents of ``version`` (default: the active one), by key."""
    dataset = dataset_get(user=user, id=dataset.pk)
    version_id = version.pk if version is not None else dataset.active_version_id
    if version is not None and version.dataset_id != dataset.pk:
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
    """One chunk's text with its document's title, for a citation: the user must be able to
    query its dataset now. Raises ``Chunk.DoesNotExist`` for a missing id and another
    dataset's alike. The title is the one in the active version, else the latest one."""
    try:
        chunk = Chunk.objects.select_related("document").get(pk=id)
        dataset = dataset_get(user=user, id=chunk.document.dataset_id, at_least=Level.QUERY)
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise Chunk.DoesNotExist from None
    entries = VersionDocument.objects.filter(document_id=chunk.document_id).order_by(
        "-version__number", "key"
    )
    entry = entries.filter(version_id=dataset.active_version_id).first() or entries.first()
    return {
        "chunk": chunk.pk,
        "text": chunk.text,
        "title": entry.title if entry else "",
        "key": entry.key if entry else "",
        "url": entry.url if entry else "",
        "dataset": {"id": dataset.pk, "name": dataset.name},
    }
