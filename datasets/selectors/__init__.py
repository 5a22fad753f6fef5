"""Reads for datasets. Every function that takes a ``user`` checks that user's live grants:
a dataset the user may not see raises the same ``Dataset.DoesNotExist`` as an id that was
never used (a 404, never a 403: no existence leak)."""

from datasets.selectors.access import (
    dataset_get,
    dataset_level_for,
    dataset_level_require,
    dataset_levels_for,
    dataset_list_at_least,
    dataset_list_visible,
    grant_list,
    grants_live,
)
from datasets.selectors.content import (
    chunk_passage_get,
    document_list,
    refill_job_get,
    refill_job_list,
    source_list,
    version_get,
    version_list,
)
from datasets.selectors.hits import Hit
from datasets.selectors.regions import dataset_regions, regions_common
from datasets.selectors.rerank import hits_rerank
from datasets.selectors.search import chunk_search

__all__ = [
    "Hit",
    "chunk_passage_get",
    "chunk_search",
    "dataset_get",
    "dataset_level_for",
    "dataset_level_require",
    "dataset_levels_for",
    "dataset_list_at_least",
    "dataset_list_visible",
    "dataset_regions",
    "document_list",
    "grant_list",
    "grants_live",
    "hits_rerank",
    "refill_job_get",
    "refill_job_list",
    "regions_common",
    "source_list",
    "version_get",
    "version_list",
]
