"""Properties of routing over random pools and requests (hypothesis)."""

from __future__ import annotations

import itertools
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routing import POLICIES, candidates_filter, load_score, route
from gateway.types import RouteRequest, WorkerSpec, WorkerView

REGIONS = ("eu", "us", "ap")
MODELS = ("m1", "m2")
STALE_AFTER = 3.0


@st.composite
def worker_views(draw, index: int) -> WorkerView:
    spec = WorkerSpec(
        url=f"http://w{index}:8000",
        region=draw(st.sampled_from(REGIONS)),
        weight=draw(st.sampled_from([0.5, 1.0, 2.0])),
        enabled=draw(st.booleans()),
        draining=draw(st.booleans()),
        max_concurrency=draw(st.none() | st.integers(1, 64)),
    )
    running = draw(st.integers(0, 64))
    return WorkerView(
        spec=spec,
        models=frozenset(draw(st.sets(st.sampled_from(MODELS), max_size=2))),
        healthy=draw(st.booleans()),
        circuit_open=draw(st.booleans()),
        running=float(running),
        waiting=float(draw(st.integers(0, 20))),
        kv_usage=draw(st.floats(0, 1)),
        metrics_age=draw(st.sampled_from([0.0, 0.5, 2.9, 3.1, 60.0, math.inf])),
        inflight=draw(st.integers(0, 80)),
    )


@st.composite
def pools(draw) -> list[WorkerView]:
    size = draw(st.integers(0, 12))
    return [draw(worker_views(i)) for i in range(size)]


@st.composite
def route_requests(draw) -> RouteRequest:
    regions = draw(st.none() | st.frozensets(st.sampled_from(REGIONS)))
    return RouteRequest(
        model=draw(st.sampled_from(MODELS)),
        allowed_regions=regions,
        home_region=draw(st.none() | st.sampled_from(REGIONS)),
        affinity_key=draw(st.none() | st.text(min_size=1, max_size=12)),
        exclude=frozenset(
            f"http://w{i}:8000" for i in draw(st.sets(st.integers(0, 11), max_size=4))
        ),
    )


def eligible(worker: WorkerView, request: RouteRequest) -> bool:
    """The filter, restated independently of the code under test."""
    allowed = request.allowed_regions
    return (
        request.model in worker.models
        and worker.healthy
        and not worker.circuit_open
        and worker.spec.enabled
        and not worker.spec.draining
        and worker.url not in request.exclude
        and (allowed is None or worker.region in allowed)
    )


@settings(max_examples=120, deadline=None)
@given(workers=pools(), request=route_requests(), policy=st.sampled_from(POLICIES))
def test_routing_returns_exactly_the_eligible_workers_each_once(workers, request, policy):
    ordered = route(workers, request, policy=policy, rng=random.Random(0))
    urls = [worker.url for worker in ordered]
    assert len(urls) == len(set(urls))
    assert set(urls) == {worker.url for worker in workers if eligible(worker, request)}


@settings(max_examples=120, deadline=None)
@given(workers=pools(), request=route_requests(), policy=st.sampled_from(POLICIES))
def test_residency_is_never_violated(workers, request, policy):
    for worker in route(workers, request, policy=policy, rng=random.Random(1)):
        assert request.allowed_regions is None or worker.region in request.allowed_regions


@settings(max_examples=80, deadline=None)
@given(
    workers=pools(),
    request=route_requests(),
    policy=st.sampled_from(POLICIES),
    allowed=st.frozensets(st.sampled_from(REGIONS), min_size=1),
)
def test_when_every_allowed_worker_is_down_the_answer_is_empty(workers, request, policy, allowed):
    down = [
        WorkerView(spec=w.spec, models=w.models, healthy=False) if w.region in allowed else w
        for w in workers
    ]
    residency = RouteRequest(
        model=request.model,
        allowed_regions=allowed,
        home_region=request.home_region,
        affinity_key=request.affinity_key,
    )
    assert route(down, residency, policy=policy, rng=random.Random(2)) == []


@settings(max_examples=80, deadline=None)
@given(workers=pools(), request=route_requests(), policy=st.sampled_from(POLICIES))
def test_routing_is_deterministic_given_the_rng_and_the_rotation(workers, request, policy):
    def once() -> list[str]:
        ordered = route(
            workers,
            request,
            policy=policy,
            rng=random.Random(42),
            rotation=itertools.count(),
        )
        return [worker.url for worker in ordered]

    assert once() == once()


@settings(max_examples=80, deadline=None)
@given(workers=pools(), request=route_requests(), policy=st.sampled_from(POLICIES))
def test_fresh_workers_come_before_stale_ones(workers, request, policy):
    ordered = route(workers, request, policy=policy, rng=random.Random(3), stale_after=STALE_AFTER)
    staleness = [worker.metrics_age > STALE_AFTER for worker in ordered]
    assert staleness == sorted(staleness)


@settings(max_examples=120, deadline=None)
@given(worker=worker_views(0))
def test_the_load_score_is_never_negative_and_saturated_when_it_should_be(worker):
    score = load_score(worker, stale_after=STALE_AFTER)
    assert score >= 0
    if worker.metrics_age > STALE_AFTER or worker.waiting > 0 or worker.kv_usage >= 1:
        assert score >= 1


@settings(max_examples=100, deadline=None)
@given(workers=pools(), request=route_requests())
def test_the_filter_keeps_the_given_order(workers, request):
    kept = candidates_filter(workers, request)
    positions = [workers.index(worker) for worker in kept]
    assert positions == sorted(positions)
