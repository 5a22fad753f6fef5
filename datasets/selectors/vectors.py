"""Nearest chunks to a query vector, within the versions a search may read.

Two engines, one answer (chunk ids with their cosine similarity, best first):

- PostgreSQL with pgvector: the column is an untyped ``vector`` and each (model, dimension)
  has a partial HNSW index on ``(vector::vector(d))`` (datasets/services/vectors.py). The
  index walks the whole model's graph, not only the allowed versions' chunks, and pgvector
  0.6 has no iterative scan: a filter applied after it can leave too few rows. So the search
  over-fetches in proportion to the share of the model's vectors the allowed versions hold
  (and widens ``hnsw.ef_search`` to match); when that share is so small that the
  over-fetch would pass pgvector's limit of 1000, when the allowed chunks are few
  (AIPORTAL_DATASET_VECTOR_EXACT_MAX), or when the filtered walk still came back short, it
  compares the allowed chunks exactly instead (their vectors are found through the chunks,
  no index on the distance).
- SQLite with sqlite-vec: an exact scan of the allowed chunks' vectors with
  ``vec_distance_cosine`` (sqlite-vec has no approximate index; the embedded default holds
  thousands of chunks, not millions).

Anywhere else (PostgreSQL without pgvector, a SQLite that could not load sqlite-vec) vector
search is unavailable: ``vector_search_available`` says so and the caller uses full-text.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from array import array
from collections.abc import Sequence
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.db import connection, transaction

import gateway

# pgvector's ceiling for hnsw.ef_search (and so for what one walk can return).
EF_SEARCH_MAX = 1000
# A filtered walk fetches this many times what the allowed share predicts: the share is an
# average, and the nearest neighbours of a query cluster in some datasets more than others.
OVERFETCH = 2.0

# State: whether this database's vector column is pgvector's, by database name (it changes
# only with a migration; tests that migrate another database get their own entry).
_pgvector_by_db: dict[str, bool] = {}
# State: the event loop the embeddings of this process run on (started on first use, so a
# forked Celery worker starts its own), and the lock that makes one.
_loop: list[asyncio.AbstractEventLoop] = []
_loop_lock = threading.Lock()


def vector_bytes(vector: Sequence[float]) -> bytes:
    """The portable form: float32, little-endian (what sqlite-vec reads as a vector)."""
    values = array("f", vector)
    if values.itemsize != 4:  # pragma: no cover -- every platform Python runs on today
        raise RuntimeError("float32 arrays are not 4 bytes here")
    return values.tobytes()


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form: ``[0.1,0.2,…]``."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def texts_embed(
    *, texts: list[str], model: str, user: Any = None, regions: frozenset[str] | None = None
) -> list[list[float]]:
    """``gateway.embed`` from synchronous code (a refill, a search), on one event loop kept
    running in a thread of its own for this process. Its own loop, not ``async_to_sync``'s:
    the gateway's HTTP connections and pool snapshot live with their loop, and a new loop
    per call made a query's embedding three times slower. Its own thread, not the caller's:
    the gateway runs some database reads in the calling thread and then closes that thread's
    connection (channels' ``database_sync_to_async``), which would break a caller inside a
    transaction. Raises ``gateway.GatewayError`` as ``embed`` does."""
    future = asyncio.run_coroutine_threadsafe(
        _embedded(texts=texts, model=model, user=user, regions=regions), _embedding_loop()
    )
    return future.result()


async def _embedded(
    *, texts: list[str], model: str, user: Any, regions: frozenset[str] | None
) -> list[list[float]]:
    # A thread of this call's own for the gateway's thread-sensitive database reads: without
    # it they would queue for asgiref's one process-wide thread, which may be the very thread
    # waiting here (a search made from a consumer's database_sync_to_async): a deadlock.
    async with ThreadSensitiveContext():
        vectors = await gateway.embed(texts=texts, model=model, user=user, allowed_regions=regions)
        # The usage records now, while the caller's work (a refill, a search) is still going:
        # this loop outlives it, and a record written later could land after the caller's
        # transaction, or its process, ended.
        await gateway.usage_flush()
        return vectors


def _embedding_loop() -> asyncio.AbstractEventLoop:
    with _loop_lock:
        if not _loop:
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="datasets-embedding", daemon=True
            ).start()
            _loop.append(loop)
        return _loop[0]


def embedding_loop_close() -> None:
    """Stop this process's embedding loop, if one runs, with everything running on it (the
    gateway's pool refresh and usage writer live with their loop): the next embedding
    starts a new one. The tests call it between tests, so that no gateway state of one test
    keeps running into the next."""
    with _loop_lock:
        if not _loop:
            return
        loop = _loop.pop()

    async def cancelled() -> None:
        # Closing goes on whatever the flush meets; the usage writer logs its own failures.
        with contextlib.suppress(Exception):
            await gateway.usage_flush()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(cancelled(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)


def pgvector_column() -> bool:
    """PostgreSQL whose ``datasets_chunkembedding.vector`` is pgvector's type."""
    if connection.vendor != "postgresql":
        return False
    name = connection.settings_dict["NAME"]
    if name not in _pgvector_by_db:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = 'datasets_chunkembedding'::regclass AND attname = 'vector'"
            )
            row = cursor.fetchone()
        _pgvector_by_db[name] = bool(row) and row[0] == "vector"
    return _pgvector_by_db[name]


def vector_search_available() -> bool:
    """Whether this database can rank chunks by vector."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return bool(getattr(connection, "vectors_available", False))
    return pgvector_column()


def vector_ranked(
    *, vector: Sequence[float], model: str, version_ids: list[int], allowed: int, limit: int
) -> list[tuple[int, float]]:
    """The ``limit`` chunks of ``version_ids`` whose ``model`` vectors are nearest to
    ``vector``, as (chunk id, cosine similarity). ``allowed``: how many chunks those versions
    hold (their ``Version.chunks``), which decides between the index and an exact scan."""
    if not version_ids or limit <= 0:
        return []
    if connection.vendor == "sqlite":
        return _exact_sqlite(vector, model, version_ids, limit)
    dimension = len(vector)
    if allowed > settings.AIPORTAL_DATASET_VECTOR_EXACT_MAX:
        fetch = _overfetch(allowed=allowed, limit=limit)
        if fetch is not None:
            rows = _hnsw_postgresql(vector, model, version_ids, limit, fetch)
            if len(rows) >= min(limit, allowed):
                return rows
    return _exact_postgresql(vector, model, dimension, version_ids, limit)


def _overfetch(*, allowed: int, limit: int) -> int | None:
    """Rows to take from the index walk so that ``limit`` survive the filter, or None when
    that is more than one walk can give."""
    with connection.cursor() as cursor:
        # The planner's estimate of the table's rows: a count would read them all. It may
        # count other models' vectors too, which only makes the over-fetch safer.
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = 'datasets_chunkembedding'::regclass"
        )
        row = cursor.fetchone()
    total = max(allowed, int(row[0]) if row and row[0] and row[0] > 0 else allowed)
    share = allowed / total
    fetch = math.ceil(limit / share * OVERFETCH)
    fetch = max(fetch, settings.AIPORTAL_DATASET_VECTOR_EF_SEARCH, limit)
    return None if fetch > EF_SEARCH_MAX else fetch


def walk_sql(dimension: int) -> str:
    """The index walk, then the filter (parameters: the query vector, model, dimension, the
    query vector again, how many to fetch, the version ids, the limit). The model and
    dimension reach the planner as constants (Django binds on the client), so the partial
    index of that (model, dimension) applies."""
    cast = f"vector({int(dimension)})"
    return f"""
        SELECT nn.chunk_id, 1 - nn.distance FROM (
          SELECT ce.chunk_id, ce.vector::{cast} <=> %s::{cast} AS distance
          FROM datasets_chunkembedding ce
          WHERE ce.model = %s AND ce.dimension = %s
          ORDER BY ce.vector::{cast} <=> %s::{cast}
          LIMIT %s
        ) AS nn
        JOIN datasets_chunk c ON c.id = nn.chunk_id
        WHERE EXISTS (
          SELECT 1 FROM datasets_versiondocument vd
          WHERE vd.document_id = c.document_id AND vd.version_id = ANY(%s)
        )
        ORDER BY nn.distance, nn.chunk_id
        LIMIT %s
    """  # noqa: S608 -- only an int is interpolated


def walk_params(
    vector: Sequence[float], model: str, version_ids: list[int], limit: int, fetch: int
) -> list[object]:
    literal = vector_literal(vector)
    return [literal, model, len(vector), literal, fetch, version_ids, limit]


def _hnsw_postgresql(
    vector: Sequence[float], model: str, version_ids: list[int], limit: int, fetch: int
) -> list[tuple[int, float]]:
    with transaction.atomic(), connection.cursor() as cursor:
        # SET LOCAL: the width holds for this walk only, not for the pooled connection.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(fetch)}")
        cursor.execute(walk_sql(len(vector)), walk_params(vector, model, version_ids, limit, fetch))
        return [(chunk_id, float(score)) for chunk_id, score in cursor.fetchall()]


def _exact_postgresql(
    vector: Sequence[float], model: str, dimension: int, version_ids: list[int], limit: int
) -> list[tuple[int, float]]:
    literal = vector_literal(vector)
    with connection.cursor() as cursor:
        # The distance on the untyped column matches no index: the allowed chunks are found
        # through the versions' documents and compared one by one.
        cursor.execute(
            """
            SELECT ce.chunk_id, 1 - (ce.vector <=> %s::vector) AS score
            FROM datasets_chunkembedding ce
            JOIN datasets_chunk c ON c.id = ce.chunk_id
            WHERE ce.model = %s AND ce.dimension = %s
              AND c.document_id IN (
                SELECT vd.document_id FROM datasets_versiondocument vd
                WHERE vd.version_id = ANY(%s)
              )
            ORDER BY ce.vector <=> %s::vector, ce.chunk_id
            LIMIT %s
            """,
            [literal, model, dimension, version_ids, literal, limit],
        )
        return [(chunk_id, float(score)) for chunk_id, score in cursor.fetchall()]


def _exact_sqlite(
    vector: Sequence[float], model: str, version_ids: list[int], limit: int
) -> list[tuple[int, float]]:
    marks = ",".join("%s" for _ in version_ids)
    blob = vector_bytes(vector)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT ce.chunk_id, 1 - vec_distance_cosine(ce.vector, %s) AS score
            FROM datasets_chunkembedding ce
            JOIN datasets_chunk c ON c.id = ce.chunk_id
            WHERE ce.model = %s AND ce.dimension = %s
              AND c.document_id IN (
                SELECT vd.document_id FROM datasets_versiondocument vd
                WHERE vd.version_id IN ({marks})
              )
            ORDER BY score DESC, ce.chunk_id
            LIMIT %s
            """,  # noqa: S608 -- only placeholders are interpolated
            [blob, model, len(vector), *version_ids, limit],
        )
        return [(chunk_id, float(score)) for chunk_id, score in cursor.fetchall()]
