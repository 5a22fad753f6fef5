"""What a search finds: one passage, where it is from, and how it ranked (its own module so
that the search and its reranking pass both use it without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: int
    text: str  # untrusted: documents are
    title: str
    key: str
    url: str
    dataset_id: int
    document_id: int
    ordinal: int
    score: float
    context: str = ""  # the document's title and headings above the chunk: untrusted too
    # What ordered it, and so what ``score`` is: "fulltext" (the engine's rank), or "rerank"
    # (the reranker's relevance, datasets/selectors/rerank.py).
    method: str = "fulltext"
