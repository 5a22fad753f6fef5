"""Writes for datasets, split by feature: ``datasets`` (datasets and sources), ``grants``,
``refill`` (the refill engine), ``events`` (what open pages are told), ``storage`` (where
uploads live and sweeping the ones nothing names)."""

from datasets.services.datasets import (
    dataset_create,
    dataset_update,
    source_add,
    source_remove,
    source_update,
)
from datasets.services.grants import grant_revoke, grant_set
from datasets.services.storage import dataset_files_dir

__all__ = [
    "dataset_create",
    "dataset_files_dir",
    "dataset_update",
    "grant_revoke",
    "grant_set",
    "source_add",
    "source_remove",
    "source_update",
]
