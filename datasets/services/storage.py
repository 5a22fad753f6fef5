"""Deleting uploaded files nothing names any more.

What names a stored file is an upload source's config, and nothing else: versions hold the
extracted text (documents are reused by checksum, never re-read from the file), so a rollback
or a kept version needs no file. A file is deleted only after the transaction that stopped
naming it commits, and never while a refill runs: that refill read the source list when it
started and may still be about to open the old file. The refill sweeps when it ends.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import transaction

from datasets.models import Dataset, RefillJob, Source, StoredFile


def dataset_files_dir(*, dataset: Dataset) -> Path:
    """Where the dataset's uploads are stored (generated names only)."""
    return Path(settings.AIPORTAL_DATASETS_DIR) / str(dataset.pk)


def _unlink(files_dir: Path, names: list[str]) -> None:
    for name in names:
        (files_dir / name).unlink(missing_ok=True)


def stored_files_sweep(*, dataset: Dataset) -> int:
    """Delete the dataset's uploaded files no upload source names (after commit); how many."""
    with transaction.atomic():
        # The dataset row is the lock every upload takes too: a file whose row an upload is
        # committing is never judged from the config before that upload's.
        locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        if locked is None:
            return 0
        if RefillJob.objects.filter(dataset=locked, status=RefillJob.Status.RUNNING).exists():
            return 0
        named = {
            item.get("stored")
            for source in Source.objects.filter(dataset=locked, kind=Source.Kind.UPLOAD)
            for item in source.config.get("files", [])
        }
        orphans = list(
            StoredFile.objects.filter(dataset=locked)
            .exclude(stored__in=named)
            .values_list("pk", "stored")
        )
        if not orphans:
            return 0
        StoredFile.objects.filter(pk__in=[pk for pk, _ in orphans]).delete()
        transaction.on_commit(
            partial(_unlink, dataset_files_dir(dataset=locked), [name for _, name in orphans])
        )
    return len(orphans)
