"""The optional reranking pass of a search: the best hits reordered by the deployment's
reranker (a cross-encoder, through the gateway), within a time budget.

Reranking is a refinement, never a condition of an answer: when no reranker is configured
(``AIPORTAL_RERANK_MODEL`` empty), when it does not answer within
``AIPORTAL_RERANK_BUDGET_MS``, or when it fails in any way (no worker up, none in the regions
the datasets allow, a malformed answer), the hits come back in the order they came in and
the person sees the search's own ranking. Only the first ``AIPORTAL_RERANK_CANDIDATES`` are
sent: a cross-encoder reads every pair, so its cost grows with each one.

What is sent is the chunks' text, to workers in the regions every searched dataset allows
(their residency, as for embeddings): a dataset's text never goes where it may not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from django.conf import settings

from accounts.models import User
from datasets.selectors.hits import Hit
from gateway import GatewayError, rerank_blocking

logger = logging.getLogger(__name__)


def hits_rerank(
    *,
    query: str,
    hits: list[Hit],
    user: User | None,
    allowed_regions: frozenset[str] | None,
) -> tuple[list[Hit], bool]:
    """``hits`` reordered by the reranker's relevance (each hit's ``score`` its relevance,
    its ``method`` "rerank"), and True; or ``hits`` as given and False when it could not be done in
    time (the reason logged). Hits past ``AIPORTAL_RERANK_CANDIDATES`` keep their place after
    the reranked ones."""
    model = settings.AIPORTAL_RERANK_MODEL
    if not model or not hits:
        return hits, False
    candidates, rest = (
        hits[: settings.AIPORTAL_RERANK_CANDIDATES],
        hits[settings.AIPORTAL_RERANK_CANDIDATES :],
    )
    started = time.monotonic()
    try:
        scores = rerank_blocking(
            query=query,
            documents=[hit.text for hit in candidates],
            model=model,
            user=user,
            allowed_regions=allowed_regions,
            timeout=settings.AIPORTAL_RERANK_BUDGET,
        )
    except (GatewayError, ValueError) as exc:
        logger.warning(
            "reranking %d hits failed after %.0f ms, kept their order: %s",
            len(candidates),
            (time.monotonic() - started) * 1000,
            getattr(exc, "code", type(exc).__name__),
        )
        return hits, False
    ordered = sorted(zip(scores, range(len(candidates)), strict=True), key=lambda p: (-p[0], p[1]))
    reranked = [replace(candidates[i], score=score, method="rerank") for score, i in ordered]
    return [*reranked, *rest], True
