"""Retrieval: the one search every caller uses (chat, the pages, the admin's "search as").

The user's live grants are checked on every call (query level or more), and only the active
version of each dataset is searched: a refill being built, or an old version kept for
rollback, is never seen. The full-text columns are made by migration 0002: a generated
``tsvector`` (``english`` configuration) with a GIN index on PostgreSQL, ranked by
``ts_rank``; an FTS5 table (porter stemmer) on SQLite, ranked by ``bm25``. Both index a
chunk's context (its document's title and heading path, migration 0007) with its text, so a
word that is only in a heading finds the chunks under it.

Two passes, for answers that are both precise and bounded in time: first the chunks with
every query word (AND); if they are fewer than ``limit``, then those with any of them (OR),
ranked after the first ones. Each pass ranks at most AIPORTAL_DATASET_SEARCH_CANDIDATES
matching chunks: ranking reads every candidate's text, and a very common word can match a
large share of a million chunks. Rare (informative) words match few chunks and are ranked in
full; only for matches beyond the cap is the choice among them arbitrary.

The words are reduced to ``\\w+`` tokens before they reach either engine's query syntax, so
a query cannot inject operators.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import connection

from accounts.models import User
from common import telemetry
from datasets.models import Chunk, Level, VersionDocument
from datasets.selectors.access import dataset_list_at_least
from datasets.selectors.hits import Hit
from datasets.selectors.rerank import hits_rerank, regions_common

MAX_TERMS = 32
_TERM = re.compile(r"\w+")


def _terms(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for term in _TERM.findall(query.lower()):
        if len(term) > 1 or term.isdigit():
            seen.setdefault(term[:100], None)
    return list(seen)[:MAX_TERMS]


@telemetry.traced("datasets.search")
def chunk_search(
    *,
    user: User | None,
    query: str,
    dataset_ids: list[int],
    limit: int = 8,
    rerank: bool | None = None,
) -> list[Hit]:
    """The best ``limit`` chunks for ``query`` in the active versions of those of
    ``dataset_ids`` the user may query now. Datasets the user may not query (or that do not
    exist) are left out silently, exactly alike. ``rerank``: reorder the best
    ``AIPORTAL_RERANK_CANDIDATES`` with the reranker (datasets/selectors/rerank.py); None:
    when ``AIPORTAL_RERANK_MODEL`` is set."""
    if rerank is None:
        rerank = bool(settings.AIPORTAL_RERANK_MODEL)
    terms = _terms(query)
    if not terms or not dataset_ids or limit <= 0:
        return []
    searched = list(
        dataset_list_at_least(user=user, level=Level.QUERY)
        .filter(pk__in=list(dataset_ids), active_version__isnull=False)
        .values_list("active_version_id", "pk", "allowed_regions")
    )
    versions = {version: pk for version, pk, _ in searched}
    if not versions:
        return []
    shown = limit
    if rerank:
        # The reranker chooses among more than are shown: the search's best candidates.
        limit = max(limit, settings.AIPORTAL_RERANK_CANDIDATES)
    ranked_by = _ranked_postgresql if connection.vendor == "postgresql" else _ranked_sqlite
    ranked = ranked_by(terms, list(versions), limit, every=True)
    if len(ranked) < limit and len(terms) > 1:
        found = {chunk_id for chunk_id, _ in ranked}
        for row in ranked_by(terms, list(versions), limit, every=False):
            if row[0] not in found and len(ranked) < limit:
                ranked.append(row)
    if not ranked:
        return []
    chunks = {
        chunk.pk: chunk
        for chunk in Chunk.objects.filter(pk__in=[chunk_id for chunk_id, _ in ranked])
    }
    # A document may sit under two keys of one version (the same bytes uploaded twice):
    # cite the first key.
    entries: dict[int, VersionDocument] = {}
    for entry in VersionDocument.objects.filter(
        version_id__in=list(versions), document_id__in={c.document_id for c in chunks.values()}
    ).order_by("-key"):
        entries[entry.document_id] = entry
    hits = []
    for chunk_id, score in ranked:
        chunk = chunks.get(chunk_id)
        entry = chunk and entries.get(chunk.document_id)
        if entry is None:  # a refill switched versions between the two queries
            continue
        hits.append(
            Hit(
                chunk_id=chunk.pk,
                text=chunk.text,
                title=entry.title,
                key=entry.key,
                url=entry.url,
                dataset_id=versions[entry.version_id],
                document_id=chunk.document_id,
                ordinal=chunk.ordinal,
                score=float(score),
                context=chunk.context,
            )
        )
    if rerank:
        regions = regions_common([allowed for _, _, allowed in searched])
        hits, _ = hits_rerank(query=query, hits=hits, user=user, allowed_regions=regions)
        hits = hits[:shown]
    return hits


def _ranked_postgresql(
    terms: list[str], version_ids: list[int], limit: int, *, every: bool
) -> list[tuple]:
    tsquery = (" & " if every else " | ").join(f"'{term}'" for term in terms)
    with connection.cursor() as cursor:
        # The tsquery is written out in the WHERE, not joined from a CTE: only a value the
        # planner sees as a constant lets it use the GIN index.
        cursor.execute(
            """
            SELECT id, ts_rank(search, to_tsquery('english', %s)) AS score FROM (
              SELECT c.id, c.search FROM datasets_chunk c
              WHERE c.search @@ to_tsquery('english', %s)
                AND EXISTS (
                  SELECT 1 FROM datasets_versiondocument vd
                  WHERE vd.document_id = c.document_id AND vd.version_id = ANY(%s)
                )
              LIMIT %s
            ) AS candidates
            ORDER BY score DESC, id
            LIMIT %s
            """,
            [tsquery, tsquery, version_ids, settings.AIPORTAL_DATASET_SEARCH_CANDIDATES, limit],
        )
        return cursor.fetchall()


def _ranked_sqlite(
    terms: list[str], version_ids: list[int], limit: int, *, every: bool
) -> list[tuple]:
    match = (" AND " if every else " OR ").join(f'"{term}"' for term in terms)
    marks = ",".join("%s" for _ in version_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, score FROM (
              SELECT f.rowid AS id, -bm25(datasets_chunk_fts) AS score
              FROM datasets_chunk_fts f JOIN datasets_chunk c ON c.id = f.rowid
              WHERE datasets_chunk_fts MATCH %s
                AND EXISTS (
                  SELECT 1 FROM datasets_versiondocument vd
                  WHERE vd.document_id = c.document_id AND vd.version_id IN ({marks})
                )
              LIMIT %s
            )
            ORDER BY score DESC, id
            LIMIT %s
            """,  # noqa: S608 -- only placeholders are interpolated
            [match, *version_ids, settings.AIPORTAL_DATASET_SEARCH_CANDIDATES, limit],
        )
        return cursor.fetchall()
