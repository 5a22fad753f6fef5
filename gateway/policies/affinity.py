"""Conversation affinity: consistent hashing with bounded loads, and a second choice.

Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded Loads" (SODA 2018): walk
the ring clockwise from the key's hash and take the first worker whose load stays within
``c * average``. With c > 1 some worker always has room; a key keeps its worker for as long as
that worker is not among the busiest, and when it is, the key moves to the *same* next worker
on the ring each time, so the prefix cache it builds there is reused too. When the home
worker calms down the key returns to it.

Where a vLLM worker is not a bin of balls (each choice measured in bench/routing_sim.py,
figures in docs/gateway/routing.md):
- the load compared is ``load_score``, relative to each worker's capacity, not a count of
  requests: a fast GPU with a large KV cache runs twice the requests of a small one at the
  same latency, and balancing counts would drive conversations off it;
- a worker below ``idle_below`` is never overloaded: continuous batching serves a few more
  sequences at almost no cost, and leaving a warm cache for that is a loss;
- a saturated worker (score >= 1: queueing, KV cache full, or metrics stale) is always
  overloaded, whatever the average says;
- the first two workers within bound on the ring are both the key's homes, and the second
  is taken when its score is lower by more than ``second_choice_margin`` (the power of two
  choices, Mitzenmacher). A pool whose weights do not match its GPUs then still balances,
  and the margin keeps a conversation from flapping between two caches on noise.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.policies.hashring import HashRing
from gateway.types import WorkerView

# Workers taken from the ring before the rest follow by load: the two homes and one more, so
# a retried request also lands on a consistent (and so probably warm) worker.
RING_CANDIDATES = 3


def affinity_order(
    candidates: Sequence[WorkerView],
    *,
    key: str,
    ring: HashRing,
    scores: dict[str, float],
    balance_factor: float,
    idle_below: float,
    second_choice_margin: float | None,
) -> list[WorkerView]:
    """``candidates`` in the order to try them: the ring's first workers within their bound,
    then everyone else, least loaded first. Empty only when ``candidates`` is."""
    by_url = {worker.spec.url: worker for worker in candidates}
    bound = balance_factor * sum(scores[url] for url in by_url) / len(by_url)

    def within_bound(url: str) -> bool:
        score = scores[url]
        return score < 1.0 and (score < idle_below or score <= bound)

    picked: list[WorkerView] = []
    for url in ring.walk(key):
        if url in by_url and within_bound(url):
            picked.append(by_url[url])
            if len(picked) == RING_CANDIDATES:
                break
    if (
        second_choice_margin is not None
        and len(picked) >= 2
        and scores[picked[1].spec.url] < scores[picked[0].spec.url] - second_choice_margin
    ):
        picked[0], picked[1] = picked[1], picked[0]
    taken = {worker.spec.url for worker in picked}
    rest = sorted(
        (worker for worker in candidates if worker.spec.url not in taken),
        key=lambda worker: scores[worker.spec.url],
    )
    return picked + rest
