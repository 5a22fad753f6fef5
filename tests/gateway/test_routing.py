"""Routing: the filter, the load score and each policy's basic behaviour (pure functions)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from gateway.routing import POLICIES, candidates_filter, load_score, route
from gateway.types import RouteRequest, WorkerSpec, WorkerView

MODEL = "m"


def view(
    name: str,
    *,
    region: str = "eu",
    weight: float = 1.0,
    max_concurrency: int | None = None,
    enabled: bool = True,
    draining: bool = False,
    models: frozenset[str] = frozenset({MODEL}),
    healthy: bool = True,
    circuit_open: bool = False,
    running: float = 0.0,
    waiting: float = 0.0,
    kv_usage: float = 0.0,
    metrics_age: float = 0.5,
    inflight: int = 0,
    no_load_metrics: bool = False,
) -> WorkerView:
    spec = WorkerSpec(
        url=f"http://{name}:8000",
        region=region,
        weight=weight,
        enabled=enabled,
        draining=draining,
        max_concurrency=max_concurrency,
    )
    return WorkerView(
        spec=spec,
        models=models,
        healthy=healthy,
        circuit_open=circuit_open,
        running=running,
        waiting=waiting,
        kv_usage=kv_usage,
        metrics_age=metrics_age,
        inflight=inflight,
        no_load_metrics=no_load_metrics,
    )


def names(workers: list[WorkerView]) -> list[str]:
    return [worker.spec.name.split(":")[0] for worker in workers]


def request(**overrides) -> RouteRequest:
    return RouteRequest(model=MODEL, **overrides)


# --- filter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"healthy": False},
        {"circuit_open": True},
        {"draining": True},
        {"enabled": False},
        {"models": frozenset({"other"})},
    ],
    ids=["unhealthy", "circuit-open", "draining", "disabled", "other-model"],
)
@pytest.mark.parametrize("policy", POLICIES)
def test_it_never_returns_a_worker_the_filter_rejects(policy, bad):
    workers = [view("good"), view("bad", **bad)]
    for _ in range(20):
        assert names(route(workers, request(affinity_key="k"), policy=policy)) == ["good"]


@pytest.mark.parametrize("policy", POLICIES)
def test_it_skips_workers_already_tried(policy):
    workers = [view("a"), view("b"), view("c")]
    tried = frozenset({workers[0].url, workers[2].url})
    assert names(route(workers, request(exclude=tried), policy=policy)) == ["b"]


@pytest.mark.parametrize("policy", POLICIES)
def test_it_keeps_to_the_allowed_regions_even_when_they_are_all_down(policy):
    workers = [
        view("eu1", region="eu", healthy=False),
        view("eu2", region="eu", circuit_open=True),
        view("us1", region="us"),
    ]
    allowed = request(allowed_regions=frozenset({"eu"}), affinity_key="k")
    assert route(workers, allowed, policy=policy) == []


@pytest.mark.parametrize("policy", POLICIES)
def test_it_keeps_to_the_allowed_regions_when_they_are_saturated(policy):
    workers = [
        view("eu1", region="eu", running=10, waiting=50, kv_usage=1.0),
        view("us1", region="us"),
    ]
    allowed = request(allowed_regions=frozenset({"eu"}), home_region="eu")
    assert names(route(workers, allowed, policy=policy)) == ["eu1"]


def test_an_empty_allowed_set_allows_nothing():
    assert route([view("a")], request(allowed_regions=frozenset()), policy="affinity") == []


def test_it_returns_nothing_when_no_worker_serves_the_model():
    assert route([view("a")], RouteRequest(model="absent"), policy="least_loaded") == []


def test_it_lists_a_worker_given_twice_only_once():
    twice = [view("a"), view("a", running=3)]
    assert len(candidates_filter(twice, request())) == 1


def test_it_refuses_an_unknown_policy():
    with pytest.raises(ValueError, match="unknown routing policy"):
        route([view("a")], request(), policy="random")


# --- load score ---------------------------------------------------------------------------


def test_an_idle_worker_scores_zero():
    assert load_score(view("a"), stale_after=3) == 0


def test_the_gateways_own_inflight_counts_before_the_next_probe():
    # The probe saw nothing yet; the gateway has just opened 8 streams to it.
    busy = view("a", inflight=8)
    assert load_score(busy, stale_after=3) > load_score(view("b", inflight=2), stale_after=3) > 0


def test_a_waiting_queue_means_saturated():
    queueing = view("a", running=4, waiting=1, inflight=5)
    assert load_score(queueing, stale_after=3) >= 1
    longer = view("a", running=4, waiting=8, inflight=12)
    assert load_score(longer, stale_after=3) > load_score(queueing, stale_after=3)


def test_a_full_kv_cache_means_saturated():
    assert load_score(view("a", running=3, kv_usage=1.0, inflight=3), stale_after=3) >= 1


def test_a_kv_cache_at_the_saturation_threshold_means_saturated():
    # vLLM queues new requests (and preempts running ones) before its gauge reads 1.0.
    nearly_full = view("a", running=3, kv_usage=0.92, inflight=3)
    assert load_score(nearly_full, stale_after=3) >= 1
    assert load_score(nearly_full, stale_after=3, kv_saturation=1.0) < 1
    assert load_score(
        view("a", running=3, kv_usage=0.45, inflight=3), stale_after=3
    ) == pytest.approx(0.5)


def test_a_home_worker_at_the_kv_threshold_sends_requests_abroad():
    workers = [
        view("eu1", region="eu", running=3, kv_usage=0.92, inflight=3),
        view("us1", region="us"),
    ]
    home = request(home_region="eu")
    assert names(route(workers, home, policy="least_loaded")) == ["us1", "eu1"]
    assert names(route(workers, home, policy="least_loaded", kv_saturation=0.95)) == ["eu1", "us1"]


def test_the_proxy_routes_with_the_kv_saturation_setting(settings):
    from gateway.dispatch import _saturated

    workers = [view("a", running=3, kv_usage=0.6, inflight=3)]
    assert not _saturated(workers)
    settings.AIPORTAL_KV_SATURATION = 0.5
    assert _saturated(workers)


def test_a_worker_without_load_metrics_is_scored_by_the_gateways_own_streams():
    # vLLM started with --disable-log-stats: never any gauges, yet healthy.
    quiet = dict(metrics_age=math.inf, no_load_metrics=True)
    assert load_score(view("a", **quiet), stale_after=3) == 0
    assert load_score(view("a", inflight=16, **quiet), stale_after=3) == 0.25
    workers = [view("stale", metrics_age=math.inf), view("quiet", inflight=40, **quiet)]
    workers.append(view("busy", running=50, inflight=50))
    assert names(route(workers, request(), policy="least_loaded")) == ["quiet", "busy", "stale"]


def test_max_concurrency_sets_the_capacity():
    small = view("a", max_concurrency=4, inflight=4)
    large = view("b", max_concurrency=40, inflight=4)
    assert load_score(small, stale_after=3) >= 1
    assert load_score(large, stale_after=3) == pytest.approx(0.1)


def test_weight_scales_the_default_capacity():
    heavy = view("a", weight=2.0, inflight=10)
    light = view("b", weight=0.5, inflight=10)
    assert load_score(heavy, stale_after=3) < load_score(light, stale_after=3)


@pytest.mark.parametrize("age", [3.5, math.inf])
def test_stale_or_missing_metrics_count_as_saturated(age):
    stale = view("a", metrics_age=age, running=0, inflight=0)
    assert load_score(stale, stale_after=3) >= 1


def test_stale_workers_still_order_among_themselves_by_inflight():
    quiet = view("a", metrics_age=10, inflight=1)
    busy = view("b", metrics_age=10, inflight=9)
    assert load_score(quiet, stale_after=3) < load_score(busy, stale_after=3)


# --- policies -----------------------------------------------------------------------------


def test_least_loaded_orders_every_worker_by_score():
    workers = [view("mid", inflight=8), view("idle"), view("busy", running=9, waiting=3)]
    assert names(route(workers, request(), policy="least_loaded")) == ["idle", "mid", "busy"]


@pytest.mark.parametrize("policy", POLICIES)
def test_stale_workers_come_last_but_stay_usable(policy):
    workers = [view("stale", metrics_age=60), view("fresh", inflight=5)]
    ordered = names(route(workers, request(affinity_key="k"), policy=policy, stale_after=3))
    assert ordered == ["fresh", "stale"]
    alone = [view("stale", metrics_age=60)]
    assert names(route(alone, request(), policy=policy, stale_after=3)) == ["stale"]


def test_least_loaded_breaks_ties_at_random_so_processes_do_not_herd():
    workers = [view(f"w{i}") for i in range(4)]
    firsts = {
        names(route(workers, request(), policy="least_loaded", rng=random.Random(seed)))[0]
        for seed in range(40)
    }
    assert len(firsts) == 4


def test_power_of_two_takes_the_less_loaded_of_the_two():
    workers = [view("busy", inflight=20), view("idle")]
    for seed in range(20):
        chosen = route(workers, request(), policy="power_of_two", rng=random.Random(seed))
        assert names(chosen) == ["idle", "busy"]


def test_power_of_two_is_repeatable_with_a_seeded_rng():
    workers = [view(f"w{i}", inflight=i % 3) for i in range(8)]

    def run(seed: int) -> list[list[str]]:
        rng = random.Random(seed)
        return [names(route(workers, request(), policy="power_of_two", rng=rng)) for _ in range(30)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_power_of_two_never_picks_the_most_loaded_of_three():
    workers = [view("a", inflight=1), view("b", inflight=2), view("c", inflight=30)]
    for seed in range(50):
        chosen = route(workers, request(), policy="power_of_two", rng=random.Random(seed))
        assert names(chosen)[0] != "c"


def test_round_robin_takes_turns_whatever_the_load():
    workers = [view("a", inflight=30), view("b"), view("c")]
    rotation = itertools.count()
    firsts = [
        names(route(workers, request(), policy="round_robin", rotation=rotation))[0]
        for _ in range(6)
    ]
    assert firsts == ["a", "b", "c", "a", "b", "c"]


def test_round_robin_shares_one_counter_across_calls_by_default():
    workers = [view("a"), view("b")]
    first = names(route(workers, request(), policy="round_robin"))[0]
    second = names(route(workers, request(), policy="round_robin"))[0]
    assert first != second


# --- home region --------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_home_region_goes_first_while_it_has_room(policy):
    workers = [view("us1", region="us"), view("eu1", region="eu", inflight=6)]
    home = request(home_region="eu", affinity_key="k")
    for _ in range(5):
        assert names(route(workers, home, policy=policy)) == ["eu1", "us1"]


@pytest.mark.parametrize("policy", POLICIES)
def test_a_saturated_home_region_sends_requests_abroad(policy):
    workers = [
        view("eu1", region="eu", running=8, waiting=4, inflight=12),
        view("us1", region="us"),
    ]
    home = request(home_region="eu", affinity_key="k")
    # A rotation of the test's own: round_robin's process-wide counter is wherever the tests
    # before this one (a different set in each xdist worker) left it.
    rotation = itertools.count()
    if policy == "round_robin":
        # Blind to load: once home is saturated, abroad takes every other turn.
        turns = [names(route(workers, home, policy=policy, rotation=rotation)) for _ in range(2)]
        assert sorted(turns) == [["eu1", "us1"], ["us1", "eu1"]]
    else:
        assert names(route(workers, home, policy=policy, rotation=rotation)) == ["us1", "eu1"]


def test_a_home_region_without_workers_is_no_obstacle():
    workers = [view("us1", region="us")]
    assert names(route(workers, request(home_region="eu"), policy="affinity")) == ["us1"]
