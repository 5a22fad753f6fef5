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
ranked after the first ones. Ranking reads every candidate's text, and a very common word can
match a large share of a million chunks, so the cost is bounded by
AIPORTAL_DATASET_SEARCH_CANDIDATES (the cap) per word: the AND pass ranks at most the cap's
matches (all of them when one of its words is rare), and the any-word pass looks only for the
words that match at most the cap each when there are such words (``_informative``: a word
found everywhere says little of the subject and would crowd the rest out), then ranks all
their matches, at most the cap times their number. Only when every word is common is the
choice among the matches arbitrary (table order). Stop words are left out of both passes
(``_terms``).

The words are reduced to ``\\w+`` tokens before they reach either engine's query syntax, so
a query cannot inject operators.

By meaning (``method``, default AIPORTAL_DATASET_SEARCH_METHOD): "vector" ranks the chunks by
the cosine similarity of their vectors to the query's (datasets/selectors/vectors.py),
"hybrid" fuses the full-text and vector lists by reciprocal rank (each chunk scores the sum
of 1 / (k + its rank) over the lists it is in, k = AIPORTAL_DATASET_RRF_K), so a passage
that shares the query's words and one that only shares its meaning both rise. Vectors are
used only for datasets whose active version was embedded with the deployment's embedding
model and on a database that can rank them; the others are searched by full-text alone.
The query is embedded through the gateway for the user (their policies apply), sent only
to regions every dataset searched with it allows: datasets with different residencies are
embedded and searched per group. If that fails (workers down), the search is full-text and
the failure is logged: a person never gets an error for it.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

import gateway
from accounts.models import User
from common import telemetry
from common.stop_words import ENGLISH_STOP_WORDS
from datasets.models import Chunk, Level, VersionDocument
from datasets.selectors.access import dataset_list_at_least
from datasets.selectors.hits import Hit
from datasets.selectors.regions import dataset_regions, regions_common
from datasets.selectors.rerank import hits_rerank
from datasets.selectors.vectors import texts_embed, vector_ranked, vector_search_available

logger = logging.getLogger(__name__)

MAX_TERMS = 32
METHODS = ("fulltext", "vector", "hybrid")
# Each list a fusion takes: this many times the hits asked for, at least FUSION_MIN.
FUSION_DEPTH = 4
FUSION_MIN = 20
_TERM = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class _Active:
    version_id: int
    dataset_id: int
    regions: frozenset[str] | None
    embedding_model: str
    chunks: int


def _terms(query: str) -> list[str]:
    """The query's words, stop words left out unless there is nothing else ("how do I change
    a field" looks for "change" and "field"): on SQLite, FTS5 would otherwise require "how"
    and "do" in the first pass and rank a chunk for them in the second, and PostgreSQL's
    ``english`` configuration drops them anyway, so both engines search for the same words."""
    seen: dict[str, None] = {}
    for term in _TERM.findall(query.lower()):
        if len(term) > 1 or term.isdigit():
            seen.setdefault(term[:100], None)
    words = [term for term in seen if term not in ENGLISH_STOP_WORDS] or list(seen)
    return words[:MAX_TERMS]


@telemetry.traced("datasets.search")
def chunk_search(
    *,
    user: User | None,
    query: str,
    dataset_ids: list[int],
    limit: int = 8,
    method: str | None = None,
    rerank: bool | None = None,
) -> list[Hit]:
    """The best ``limit`` chunks for ``query`` in the active versions of those of
    ``dataset_ids`` the user may query now, ranked by ``method`` ("fulltext", "vector",
    "hybrid"; None: AIPORTAL_DATASET_SEARCH_METHOD). Datasets the user may not query (or that
    do not exist) are left out silently, exactly alike. ``rerank``: reorder the best
    ``AIPORTAL_RERANK_CANDIDATES`` with the reranker (datasets/selectors/rerank.py); None:
    when ``AIPORTAL_RERANK_MODEL`` is set."""
    method = method or settings.AIPORTAL_DATASET_SEARCH_METHOD
    if method not in METHODS:
        raise ValueError(f"Unknown search method {method!r}: one of {', '.join(METHODS)}.")
    if rerank is None:
        rerank = bool(settings.AIPORTAL_RERANK_MODEL)
    terms = _terms(query)
    if not query.strip() or not dataset_ids or limit <= 0:
        return []
    active = [
        _Active(version_id, dataset_id, dataset_regions(allowed), model, chunks)
        for version_id, dataset_id, allowed, model, chunks in dataset_list_at_least(
            user=user, level=Level.QUERY
        )
        .filter(pk__in=list(dataset_ids), active_version__isnull=False)
        .values_list(
            "active_version_id",
            "pk",
            "allowed_regions",
            "active_version__embedding_model",
            "active_version__chunks",
        )
    ]
    if not active:
        return []
    versions = {row.version_id: row.dataset_id for row in active}
    shown = limit
    if rerank:
        # The reranker chooses among more than are shown: the search's best candidates.
        limit = max(limit, settings.AIPORTAL_RERANK_CANDIDATES)
    embedded = _with_vectors(active) if method != "fulltext" else []
    vector = _vector_lists(user, query, embedded, _depth(limit)) if embedded else None
    if vector is None:  # no dataset with vectors, or the query could not be embedded
        ranked, method = _fulltext(terms, list(versions), limit), "fulltext"
    elif method == "vector" and len(embedded) == len(active):
        ranked = vector[:limit]
    else:
        # Hybrid, or "vector" over datasets of which some have no vectors: those are
        # found by their words, and the two lists meet by rank.
        only_words = (
            list(versions)
            if method == "hybrid"
            else [row.version_id for row in active if row not in embedded]
        )
        ranked = _fused(
            (
                _fulltext(terms, only_words, _depth(limit)),
                settings.AIPORTAL_DATASET_FULLTEXT_WEIGHT,
            ),
            (vector, 1.0),
        )[:limit]
        method = "hybrid"
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
                method=method,
            )
        )
    if rerank:
        regions = regions_common(row.regions for row in active)
        hits, _ = hits_rerank(query=query, hits=hits, user=user, allowed_regions=regions)
    return hits[:shown]


def _depth(limit: int) -> int:
    return max(limit * FUSION_DEPTH, FUSION_MIN)


def _fulltext(terms: list[str], version_ids: list[int], limit: int) -> list[tuple]:
    if not terms or not version_ids:
        return []
    ranked_by = _ranked_postgresql if connection.vendor == "postgresql" else _ranked_sqlite
    cap = settings.AIPORTAL_DATASET_SEARCH_CANDIDATES
    ranked = ranked_by(terms, version_ids, limit, every=True, candidates=cap)
    if len(ranked) < limit and len(terms) > 1:
        found = {chunk_id for chunk_id, _ in ranked}
        words = _informative(terms, version_ids)
        # Each informative word matches at most `cap` chunks, so ranking all their matches
        # costs at most `cap` per word: a bound of `cap` for the whole pass would keep an
        # arbitrary part of them (table order) and drop the best-ranked ones.
        any_word = ranked_by(words, version_ids, limit, every=False, candidates=cap * len(words))
        for row in any_word:
            if row[0] not in found and len(ranked) < limit:
                ranked.append(row)
    return ranked


def _informative(terms: list[str], version_ids: list[int]) -> list[str]:
    """The words of an any-word pass that can be ranked in full: those matching at most
    AIPORTAL_DATASET_SEARCH_CANDIDATES chunks. A word in thousands of chunks ("model" in a
    framework's docs) would fill the capped candidates in table order and crowd out the
    chunks with the rare words that say what the question is about; it says little of the
    subject anyway (a low inverse document frequency). Counting stops at the cap, so each
    word costs at most that many index entries. If every word is that common, all are kept."""
    cap = settings.AIPORTAL_DATASET_SEARCH_CANDIDATES
    counted = _matches_counted if connection.vendor == "postgresql" else _matches_counted_sqlite
    rare = [term for term in terms if counted(term, version_ids, cap + 1) <= cap]
    return rare or terms


def _matches_counted(term: str, version_ids: list[int], stop: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
              SELECT 1 FROM datasets_chunk c
              WHERE c.search @@ to_tsquery('english', %s)
                AND EXISTS (
                  SELECT 1 FROM datasets_versiondocument vd
                  WHERE vd.document_id = c.document_id AND vd.version_id = ANY(%s)
                )
              LIMIT %s
            ) AS matching
            """,
            [f"'{term}'", version_ids, stop],
        )
        return cursor.fetchone()[0]


def _matches_counted_sqlite(term: str, version_ids: list[int], stop: int) -> int:
    marks = ",".join("%s" for _ in version_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FROM (
              SELECT 1 FROM datasets_chunk_fts f JOIN datasets_chunk c ON c.id = f.rowid
              WHERE datasets_chunk_fts MATCH %s
                AND EXISTS (
                  SELECT 1 FROM datasets_versiondocument vd
                  WHERE vd.document_id = c.document_id AND vd.version_id IN ({marks})
                )
              LIMIT %s
            )
            """,  # noqa: S608 -- only placeholders are interpolated
            [f'"{term}"', *version_ids, stop],
        )
        return cursor.fetchone()[0]


def _with_vectors(active: list[_Active]) -> list[_Active]:
    """The active versions a vector search can read: embedded with the deployment's model
    (a version kept from before a model change has the old model's vectors only)."""
    model = settings.AIPORTAL_EMBEDDING_MODEL
    if not model:
        return []
    usable = [row for row in active if row.embedding_model == model]
    if usable and not vector_search_available():
        return []
    return usable


def _vector_lists(
    user: User | None, query: str, embedded: list[_Active], depth: int
) -> list[tuple[int, float]] | None:
    """The nearest chunks of the embedded versions, best first; None if the query could
    not be embedded. One embedding per residency: a query goes only where every dataset
    searched with that embedding allows."""
    model = settings.AIPORTAL_EMBEDDING_MODEL
    groups: dict[frozenset[str] | None, list[_Active]] = defaultdict(list)
    for row in embedded:
        groups[row.regions].append(row)
    found: list[tuple[int, float]] = []
    for regions, rows in groups.items():
        try:
            (vector,) = texts_embed(texts=[query], model=model, user=user, regions=regions)
        except gateway.GatewayError as exc:
            logger.warning(
                "query embedding failed (%s: %s): searching by full-text instead", exc.code, exc
            )
            return None
        found += vector_ranked(
            vector=vector,
            model=model,
            version_ids=[row.version_id for row in rows],
            allowed=sum(row.chunks for row in rows),
            limit=depth,
        )
    found.sort(key=lambda row: (-row[1], row[0]))
    return found[:depth]


def _fused(*lists: tuple[list[tuple], float]) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion: a chunk scores the sum of weight / (k + rank) over
    the (list, weight) pairs it is in."""
    k = settings.AIPORTAL_DATASET_RRF_K
    scores: dict[int, float] = defaultdict(float)
    for ranked, weight in lists:
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            scores[chunk_id] += weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _ranked_postgresql(
    terms: list[str], version_ids: list[int], limit: int, *, every: bool, candidates: int
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
            [tsquery, tsquery, version_ids, candidates, limit],
        )
        return cursor.fetchall()


def _ranked_sqlite(
    terms: list[str], version_ids: list[int], limit: int, *, every: bool, candidates: int
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
            [match, *version_ids, candidates, limit],
        )
        return cursor.fetchall()
