"""The figures bench/retrieval.py reports, as plain functions of one ranked list.

Every function takes the documents a search returned, best first, one entry per document
(``documents_ranked`` makes that list out of chunk hits: a search returns passages, several
of which may come from one page, and a page found twice is still one page found), and the
set of documents a person labelled as answering the question. Relevance is binary: a
document answers or it does not.

- recall@k: the share of the relevant documents that are in the first k.
- MRR@k: 1 / the rank of the first relevant document if it is in the first k, else 0 (the
  "reciprocal rank"; its mean over questions is the MRR).
- nDCG@k: DCG = sum over the first k of rel_i / log2(i + 1) (i from 1), divided by the DCG
  of the best possible order (every relevant document first): 1 when the relevant documents
  lead the list, less the further down they are, 0 when none is in the first k.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def documents_ranked(keys: Iterable[str]) -> list[str]:
    """The hits' document keys in order of their best hit, each document once."""
    return list(dict.fromkeys(keys))


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    for rank, key in enumerate(ranked[:k], start=1):
        if key in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(
        1.0 / math.log2(rank + 1) for rank, key in enumerate(ranked[:k], start=1) if key in relevant
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
