"""Datasets: what a team keeps, who may use it, its immutable versions and the jobs that
build them. Split by feature: ``datasets.py`` (dataset, grants, sources), ``content.py``
(versions, documents, chunks), ``jobs.py`` (refill jobs)."""

from datasets.models.content import Chunk, ChunkEmbedding, Document, Version, VersionDocument
from datasets.models.datasets import Dataset, Grant, Level, Source, StoredFile
from datasets.models.jobs import RefillJob

__all__ = [
    "Chunk",
    "ChunkEmbedding",
    "Dataset",
    "Document",
    "Grant",
    "Level",
    "RefillJob",
    "Source",
    "StoredFile",
    "Version",
    "VersionDocument",
]
