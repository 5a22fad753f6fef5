"""The dataset page's "Try a query" box: the passages a search finds in this dataset, ranked,
with their scores and what ranked them, for a person who may query it.

Server-rendered from a GET form (``?q=``) on the dataset page itself: a search changes
nothing, and the passages (documents' text, untrusted) go through the template's escaping
like every other value on the page. Only links to web pages are made links: a document's
address is an http(s) URL or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from datasets.models import Dataset
from datasets.selectors import Hit, chunk_search

TRY_RESULTS = 10
QUERY_CHARS = 500

# What ranked the passages, as the box names it (Hit.method).
METHODS = {
    "fulltext": _("Full-text"),
    "vector": _("Vector"),
    "hybrid": _("Hybrid (full-text and vector, fused)"),
    "rerank": _("Reranked"),
}


@dataclass(frozen=True)
class TriedPassage:
    rank: int
    hit: Hit
    link: str  # the document's web address when it has one, else ""


def try_query_context(request: HttpRequest, dataset: Dataset, *, can_query: bool) -> dict[str, Any]:
    """The box's part of the page's context: the query as typed and, when there is one and
    the person may query, what it found."""
    query = request.GET.get("q", "").strip()[:QUERY_CHARS]
    if not query or not can_query:
        return {"try_query": query, "tried": None}
    hits = chunk_search(user=request.user, query=query, dataset_ids=[dataset.pk], limit=TRY_RESULTS)
    methods = list(dict.fromkeys(hit.method for hit in hits))
    return {
        "try_query": query,
        "tried": [
            TriedPassage(rank=rank, hit=hit, link=_web_link(hit.url))
            for rank, hit in enumerate(hits, start=1)
        ],
        "tried_method": ", ".join(str(METHODS.get(m, m)) for m in methods),
    }


def _web_link(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else ""
