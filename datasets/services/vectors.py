"""Embedding a version's chunks: only those without a vector for its model, through the
gateway, stored once per (chunk, model) (``ChunkEmbedding``).

A chunk is embedded as its context and text together (the document's title and headings say
what a short passage is about, as they do for full-text search). The texts go through
``gateway.embed`` with the dataset's residency as the allowed regions: an embedding is a
prompt, and only workers in those regions may read the chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

import gateway
from datasets.models import Chunk, ChunkEmbedding, Dataset, Version, VersionDocument
from datasets.selectors.vectors import (
    pgvector_column,
    texts_embed,
    vector_bytes,
    vector_literal,
)
from datasets.sources.base import SourceError

# Chunks read, embedded and stored per round: a few of the gateway's batches, so progress
# moves and a worker that dies loses little.
EMBED_ROUND = 256

# State: the (database, model, dimension) whose HNSW index this process has made sure of.
_indexed: set[tuple[str, str, int]] = set()


def chunk_text_for_embedding(*, context: str, text: str) -> str:
    return f"{context}\n\n{text}" if context else text


def version_chunks_unembedded(*, version: Version, model: str):
    """The chunks of ``version`` with no ``model`` vector yet, in id order."""
    return Chunk.objects.filter(
        document_id__in=VersionDocument.objects.filter(version=version).values("document_id")
    ).exclude(Exists(ChunkEmbedding.objects.filter(chunk=OuterRef("pk"), model=model)))


def version_embed(
    *, version: Version, dataset: Dataset, progress: Callable[[int, int], None]
) -> int:
    """Embed the chunks of ``version`` that lack a vector for its ``embedding_model``; returns
    how many were embedded. ``progress(done, total)`` is called after each round (it may
    raise to stop). Raises ``SourceError`` when there are more than
    AIPORTAL_DATASET_EMBED_MAX_CHUNKS, or when the gateway failed (retryable as its error
    was), so the refill fails or retries the way it does for a source."""
    model = version.embedding_model
    if not model:
        return 0
    pending = version_chunks_unembedded(version=version, model=model)
    total = pending.count()
    limit = settings.AIPORTAL_DATASET_EMBED_MAX_CHUNKS
    if total > limit:
        raise SourceError(
            f"This refill has {total} new chunks to embed, more than the {limit} one refill "
            "may embed (AIPORTAL_DATASET_EMBED_MAX_CHUNKS); the active version is kept.",
            retryable=False,
        )
    progress(0, total)
    done, after = 0, 0
    while done < total:
        rows = list(
            pending.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "context", "text")[:EMBED_ROUND]
        )
        if not rows:
            break
        texts = [chunk_text_for_embedding(context=context, text=text) for _, context, text in rows]
        try:
            vectors = texts_embed(texts=texts, model=model, regions=dataset.regions)
        except gateway.GatewayError as exc:
            raise SourceError(
                f"The embedding workers failed ({exc.code}): {exc}. The active version is kept.",
                retryable=exc.retryable,
            ) from exc
        chunk_vectors_store(
            model=model,
            rows=[(pk, vector) for (pk, _, _), vector in zip(rows, vectors, strict=True)],
        )
        done += len(rows)
        after = rows[-1][0]
        progress(done, total)
    return done


def chunk_vectors_store(*, model: str, rows: Sequence[tuple[int, Sequence[float]]]) -> None:
    """Store (chunk id, vector) pairs under ``model``; a pair already stored (another runner
    of the same job got there first) is left as it is."""
    if not rows:
        return
    dimension = len(rows[0][1])
    if pgvector_column():
        vector_index_ensure(model=model, dimension=dimension)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO datasets_chunkembedding (chunk_id, model, dimension, vector)"
                " VALUES (%s, %s, %s, %s::vector) ON CONFLICT DO NOTHING",
                [(pk, model, len(vector), vector_literal(vector)) for pk, vector in rows],
            )
        return
    ChunkEmbedding.objects.bulk_create(
        (
            ChunkEmbedding(
                chunk_id=pk, model=model, dimension=len(vector), vector=vector_bytes(vector)
            )
            for pk, vector in rows
        ),
        batch_size=500,
        ignore_conflicts=True,
    )


def vector_index_ensure(*, model: str, dimension: int) -> None:
    """The HNSW index (cosine) of one (model, dimension), made if missing: a partial index
    on the column cast to that dimension, since one column holds every model's vectors.
    Idempotent, and cheap after the first call in a process."""
    key = (connection.settings_dict["NAME"], model, dimension)
    if key in _indexed or not pgvector_column():
        return
    digest = hashlib.sha256(f"{model}\0{dimension}".encode()).hexdigest()[:16]
    with transaction.atomic(), connection.cursor() as cursor:
        # Two refills of two datasets may race to make it: IF NOT EXISTS settles that
        # except in the instant both create it, which this lock orders.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('datasets_chunkembedding_hnsw'))")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS datasets_chunkembedding_hnsw_{digest}"
            " ON datasets_chunkembedding USING hnsw"
            f" ((vector::vector({int(dimension)})) vector_cosine_ops)"
            f" WHERE model = %s AND dimension = {int(dimension)}",
            [model],
        )
    _indexed.add(key)
