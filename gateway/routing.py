"""Which worker gets a request: filter → score → pick, as pure functions over ``WorkerView``s.

The live gateway and the routing simulator (bench/routing_sim.py) call the same ``route``.
Nothing here does I/O, reads settings or keeps state beyond a cache of hash rings and the
round-robin counter, so a routing decision costs microseconds. docs/gateway/routing.md has
the reasoning and the simulator's figures.

State: ``_rotation`` (the round-robin position) and ``_tiebreak`` (the RNG spreading equal
workers), per process, used when the caller passes none; never reset (tests pass their own).

- **filter** (``candidates_filter``): serves the model, healthy, circuit closed, enabled, not
  draining, not already tried, and inside ``allowed_regions``. Residency is a hard constraint:
  when no allowed worker is left the answer is ``[]``, never a worker elsewhere.
- **score** (``load_score``): 0 idle, 1 saturated, from vLLM's gauges and the gateway's own
  in-flight count; KV use at ``kv_saturation`` and stale metrics count as saturated.
- **pick**: the policy orders the candidates; the first is tried first, the rest are the
  failover order. The home region goes first while it has a worker that is not saturated.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from gateway.policies.affinity import affinity_order
from gateway.policies.hashring import ring_for
from gateway.types import RouteRequest, WorkerView

POLICIES = ("affinity", "least_loaded", "power_of_two", "round_robin")

# Stale after three missed probes at AIPORTAL_PROBE_INTERVAL's default; the proxy passes
# settings.AIPORTAL_METRICS_STALE_AFTER.
DEFAULT_STALE_AFTER = 3.0
# The KV-cache use at which a worker counts as saturated: vLLM queues new requests (and
# preempts running ones as their answers grow) before its gauge reads 1.0, since a request
# is admitted only with room for its prompt's blocks. The proxy passes
# settings.AIPORTAL_KV_SATURATION; docs/gateway/routing.md has the simulator's figures.
DEFAULT_KV_SATURATION = 0.9


@dataclass(frozen=True, slots=True)
class RoutingTuning:
    """The knobs, set to what bench/routing_sim.py measured best (docs/gateway/routing.md)."""

    # Requests a worker runs well at once when its spec has no max_concurrency, per unit of
    # weight. vLLM's own max_num_seqs is often higher, but a chat workload fills a GPU's KV
    # cache first; the score learns the real limit from the KV and waiting gauges anyway.
    default_capacity: int = 64
    # c in "c * average load": how far above the average a sticky worker may go before its
    # conversations move. Lower balances better, higher keeps more caches warm.
    balance_factor: float = 1.5
    # Below this load score a worker is never overloaded (see gateway/policies/affinity.py).
    idle_below: float = 0.5
    # A key's second worker on the ring is taken when its score is lower than the first's by
    # more than this; None keeps strictly to the first worker within bound.
    second_choice_margin: float | None = 0.25
    # Ring points per unit of weight: more spread keys more evenly, costs only memory.
    vnodes: int = 64


DEFAULT_TUNING = RoutingTuning()

_rotation = itertools.count()
_tiebreak = random.Random()  # noqa: S311 - spreading equal workers, not a secret


def candidates_filter(workers: Sequence[WorkerView], request: RouteRequest) -> list[WorkerView]:
    """The workers this request may go to at all, in the order given, each once."""
    model, exclude, allowed = request.model, request.exclude, request.allowed_regions
    seen: set[str] = set()
    kept: list[WorkerView] = []
    for worker in workers:
        spec = worker.spec
        url = spec.url
        if (
            model in worker.models
            and worker.healthy
            and not worker.circuit_open
            and spec.enabled
            and not spec.draining
            and url not in exclude
            and (allowed is None or spec.region in allowed)
            and url not in seen
        ):
            seen.add(url)
            kept.append(worker)
    return kept


def load_score(
    worker: WorkerView,
    *,
    stale_after: float,
    default_capacity: int = DEFAULT_TUNING.default_capacity,
    kv_saturation: float = DEFAULT_KV_SATURATION,
) -> float:
    """How busy the worker is: 0 idle, 1 saturated (a new request would queue), above 1 more so.

    - Requests on it: the larger of the gateway's in-flight count (always fresh: the gateway
      updates it as it opens and closes streams) and vLLM's running + waiting (as of the last
      probe, but it also sees clients that bypass this gateway), over its capacity.
    - A waiting queue means vLLM is at its own limit: at least 1, plus the queue's length
      relative to the batch, so a long queue is worse than a short one.
    - KV-cache use, grown by the requests sent since the probe, over ``kv_saturation``: a
      cache that full makes new requests wait even with free batch slots, and it is what
      fills first on a small GPU.
    - A worker that exports no load gauges (``no_load_metrics``, vLLM's
      ``--disable-log-stats``): in-flight / capacity, the gateway's own count alone.
    - Metrics older than ``stale_after`` (or never read): 1 + in-flight / capacity. A worker we
      cannot see is not an idle one, but it stays usable as a last resort, and the stale ones
      still order among themselves by what the gateway knows.
    """
    return _score(worker, stale_after, default_capacity, kv_saturation)


def _score(
    worker: WorkerView, stale_after: float, default_capacity: int, kv_saturation: float
) -> float:
    # load_score without keyword arguments or max(): route() calls it for every candidate,
    # and these few hundred nanoseconds are most of a routing decision.
    spec = worker.spec
    capacity = spec.max_concurrency or default_capacity * spec.weight
    if capacity < 1.0:
        capacity = 1.0
    inflight = worker.inflight
    if worker.no_load_metrics:
        # Healthy but silent about its load (--disable-log-stats): what the gateway itself
        # sends it is all there is to go by. Counting it as saturated, as stale metrics are,
        # would starve a worker that is fine.
        return inflight / capacity
    if worker.metrics_age > stale_after:
        return 1.0 + inflight / capacity
    running, waiting = worker.running, worker.waiting
    busy = running + waiting
    if inflight > busy:
        busy = inflight
    if waiting > 0:
        # Queueing: what it runs now is all it can run, whatever we were told.
        capacity = running if running > 1.0 else 1.0
    elif not spec.max_concurrency and running > capacity:
        # Running this many without a queue: it can run at least this many.
        capacity = running
    kv = worker.kv_usage
    if running > 0 and busy > running:
        # The KV gauge is as old as the probe; the requests sent since fill it further, each
        # about as much as the ones running then.
        kv = kv * busy / running
    kv /= kv_saturation
    load = busy / capacity
    return load if load > kv else kv


def route(
    workers: list[WorkerView],
    request: RouteRequest,
    *,
    policy: str,
    now: float | None = None,
    rng: random.Random | None = None,
    stale_after: float = DEFAULT_STALE_AFTER,
    kv_saturation: float = DEFAULT_KV_SATURATION,
    tuning: RoutingTuning = DEFAULT_TUNING,
    rotation: Iterator[int] | None = None,
) -> list[WorkerView]:
    """The workers to try for ``request``, best first; each at most once; ``[]`` when none.

    ``rng`` makes power_of_two and tie-breaks repeatable; ``rotation`` replaces round_robin's
    process-wide counter (tests, the simulator). ``now`` is accepted for callers that have a
    clock: the views carry their own ages, so no policy needs it today.
    """
    del now
    picker = _PICKERS.get(policy)
    if picker is None:
        raise ValueError(f"unknown routing policy {policy!r}; one of {', '.join(POLICIES)}")
    candidates = candidates_filter(workers, request)
    if not candidates:
        return []
    rng = rng or _tiebreak
    capacity = tuning.default_capacity
    scores = {w.spec.url: _score(w, stale_after, capacity, kv_saturation) for w in candidates}
    # Home first while it has a worker that is fresh and not saturated; the rest follow.
    preferred, others = candidates, []
    home_region = request.home_region
    if home_region is not None:
        home = [w for w in candidates if w.spec.region == home_region]
        if any(scores[w.spec.url] < 1.0 for w in home):
            preferred = home
            others = [w for w in candidates if w.spec.region != home_region]
    context = _Context(
        workers=workers,
        request=request,
        scores=scores,
        rng=rng,
        tuning=tuning,
        rotation=rotation or _rotation,
    )
    ordered = picker(preferred, context)
    if others:
        ordered += _by_load(others, context)
    stale = [w for w in ordered if w.metrics_age > stale_after and not w.no_load_metrics]
    if stale:
        # A worker we cannot see goes after every worker we can, home or not.
        ordered = [w for w in ordered if w.metrics_age <= stale_after or w.no_load_metrics]
        ordered += stale
    return ordered


@dataclass(slots=True)
class _Context:
    workers: list[WorkerView]
    request: RouteRequest
    scores: dict[str, float]
    rng: random.Random
    tuning: RoutingTuning
    rotation: Iterator[int]


def _by_load(candidates: Sequence[WorkerView], context: _Context) -> list[WorkerView]:
    """Least loaded first; equal ones in random order, so that several web processes with
    the same view do not all pick the same worker."""
    scores, draw = context.scores, context.rng.random
    keyed = [(scores[w.spec.url], draw(), i) for i, w in enumerate(candidates)]
    keyed.sort()
    return [candidates[i] for _, _, i in keyed]


def _least_loaded(candidates: Sequence[WorkerView], context: _Context) -> list[WorkerView]:
    return _by_load(candidates, context)


def _power_of_two(candidates: Sequence[WorkerView], context: _Context) -> list[WorkerView]:
    """Two workers drawn at random, the less loaded one first (Mitzenmacher): nearly the
    balance of least-loaded, without every router herding onto the same idle worker."""
    if len(candidates) < 2:
        return list(candidates)
    first, second = context.rng.sample(range(len(candidates)), 2)
    if context.scores[candidates[second].spec.url] < context.scores[candidates[first].spec.url]:
        first, second = second, first
    rest = [w for i, w in enumerate(candidates) if i != first and i != second]
    return [candidates[first], candidates[second], *_by_load(rest, context)]


def _round_robin(candidates: Sequence[WorkerView], context: _Context) -> list[WorkerView]:
    """Each worker in turn, blind to load (stale workers still go last, in route)."""
    ordered = sorted(candidates, key=lambda w: w.spec.url)
    start = next(context.rotation) % len(ordered)
    return ordered[start:] + ordered[:start]


def _affinity(candidates: Sequence[WorkerView], context: _Context) -> list[WorkerView]:
    key = context.request.affinity_key
    if not key:
        # Nothing to keep warm: spread by load.
        return _by_load(candidates, context)
    tuning = context.tuning
    # The ring covers every worker given, not only the candidates: it then changes only when
    # the pool does, and skipping a filtered worker on it gives the same answer as a ring
    # built without it (its points just stop counting).
    ring = ring_for(tuple((w.spec.url, w.spec.weight) for w in context.workers), tuning.vnodes)
    return affinity_order(
        candidates,
        key=key,
        ring=ring,
        scores=context.scores,
        balance_factor=tuning.balance_factor,
        idle_below=tuning.idle_below,
        second_choice_margin=tuning.second_choice_margin,
    )


_PICKERS: dict[str, Callable[[Sequence[WorkerView], _Context], list[WorkerView]]] = {
    "affinity": _affinity,
    "least_loaded": _least_loaded,
    "power_of_two": _power_of_two,
    "round_robin": _round_robin,
}
