"""The datasets' part of "export my data" and "delete my account", and a dataset's own export
(accounts/privacy/hooks.py says how the hooks are called; registered in DatasetsConfig.ready).

A dataset's export is the same job as "export my data" with ``DataExport.dataset_id`` set
(accounts/privacy/export.py): accounts queues it, builds it with the writer registered here
and serves the file; who may ask for it and have it (the dataset's managers) is decided here.
"""

from __future__ import annotations

import shutil
import zipfile
from typing import IO, cast

from accounts.models import DataExport, User
from accounts.privacy.export import (
    ExportNotAvailable,
    data_export_file_open,
    data_export_latest,
    data_export_request,
)
from accounts.privacy.hooks import ExportPart
from datasets.models import Dataset, Level
from datasets.selectors import dataset_level_for, dataset_level_require
from datasets.services.sovereignty import dataset_delete, dataset_export

# Without django-stubs mypy reads a Choices member as the tuple that defines it.
_MANAGE = cast(Level, Level.MANAGE)


def dataset_archive_write(*, user: User, dataset_id: int, out: IO[bytes]) -> None:
    """Write one dataset's export archive to ``out`` for accounts' export job. A dataset
    deleted, or no longer managed by the person, since the request raises: the job fails with
    the usual message, like any other build that cannot finish."""
    dataset = Dataset.objects.get(pk=dataset_id)
    with dataset_export(dataset=dataset, user=user) as data:
        shutil.copyfileobj(data, out)


def _dataset_part(dataset: Dataset, user: User) -> ExportPart:
    def write(archive: zipfile.ZipFile) -> None:
        member_name = f"datasets/{dataset.slug}-{dataset.pk}.zip"
        with (
            dataset_export(dataset=dataset, user=user) as data,
            archive.open(member_name, "w") as member,
        ):
            shutil.copyfileobj(data, member)

    return ExportPart(write=write)


class DatasetsPrivacyHook:
    name = "datasets"

    def export_parts(self, *, user: User) -> list[ExportPart]:
        """Each dataset the person owns, as the dataset export's own zip, one part each."""
        datasets = Dataset.objects.filter(owner=user).order_by("pk")
        return [_dataset_part(dataset, user) for dataset in datasets]

    def delete(self, *, user: User, ip: str | None) -> dict[str, int]:
        """Every dataset the person owns, through the datasets' own service: it removes their
        stored files once the deletion commits."""
        datasets = list(Dataset.objects.filter(owner=user))
        for dataset in datasets:
            dataset_delete(dataset=dataset, user=user, ip=ip)
        return {"datasets": len(datasets)}


def dataset_export_request(*, user: User, dataset: Dataset, ip: str | None = None) -> DataExport:
    """Queue an export of ``dataset``, which the person must manage, or return the one already
    queued or being built."""
    # Checked here as well as by the build: a refusal is the person's answer, now.
    dataset_level_require(user=user, dataset=dataset, level=_MANAGE)
    return data_export_request(user=user, ip=ip, dataset_id=dataset.pk)


def dataset_export_latest(*, user: User, dataset: Dataset) -> DataExport | None:
    """The person's most recent export of ``dataset`` (a read only)."""
    return data_export_latest(user=user, dataset_id=dataset.pk)


def dataset_export_open(*, user: User, dataset: Dataset, id: int) -> IO[bytes]:
    """The built archive of the person's export ``id`` of ``dataset``, for a GET, while they
    still manage the dataset. Anything else is ExportNotAvailable (a 404)."""
    if (dataset_level_for(user=user, dataset=dataset) or 0) < _MANAGE:
        raise ExportNotAvailable()
    return data_export_file_open(user=user, dataset_id=dataset.pk, id=id)
