"""The routing simulator's invariants on a tiny trace (its figures are for bench/, not tests)."""

from __future__ import annotations

import dataclasses
import math

import pytest

import bench.sim.runner
from bench.sim.runner import ALL_POLICIES, SimConfig, simulate
from bench.sim.worker import WorkerClass
from bench.sim.workload import WorkloadConfig, conversations_generate

TINY = SimConfig(workload=WorkloadConfig(rate=1.5, duration=15.0), warmup=0.0, seed=3)


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_every_request_finishes_in_order(policy):
    result = simulate(policy, TINY)
    assert result.measured and result.unfinished == 0
    for request in result.measured:
        assert request.arrival <= request.admitted <= request.first_token <= request.finished
    assert result.route_calls == len(result.requests)


@pytest.mark.parametrize("policy", ["affinity", "round_robin", "llm-d"])
def test_tokens_are_conserved(policy):
    result = simulate(policy, TINY)
    for worker in result.workers:
        # Let the worker finish what it holds, so that every count below is complete.
        while (at := worker.next_event()) is not None:
            worker.fire(at)
        model = worker.model
        assert not model.busy and model.preemptions == 0  # a light trace: no recomputation
        mine = [r for r in result.requests if r.worker == worker.index]
        assert all(not math.isnan(r.finished) for r in mine)
        # Every prompt token was either found in the cache or prefilled, once.
        assert model.query_tokens == sum(r.prompt_tokens for r in mine)
        assert model.hit_tokens == sum(r.hit_tokens for r in mine)
        assert worker.prefilled == model.query_tokens - model.hit_tokens
        # Every answer token after the first (which the prefill gives) was decoded once.
        assert worker.decoded == sum(r.output_tokens - 1 for r in mine)
        # Every block went back to the pool, cached or not.
        assert model.pool.free_blocks == model.pool.num_blocks


def test_without_prefix_caching_nothing_is_ever_a_hit():
    result = simulate("affinity", dataclasses.replace(TINY, prefix_caching=False))
    assert result.unfinished == 0
    assert sum(r.hit_tokens for r in result.requests) == 0
    assert all(worker.model.hit_tokens == 0 for worker in result.workers)
    assert all(worker.model.pool.cached_blocks == 0 for worker in result.workers)


def test_with_prefix_caching_later_turns_hit():
    result = simulate("affinity", TINY)
    assert any(r.hit_tokens > 0 for r in result.requests if r.turn > 0)


def test_a_seed_fixes_the_trace_and_the_outcome():
    assert conversations_generate(TINY.workload, seed=3) == conversations_generate(
        TINY.workload, seed=3
    )
    first = [r.first_token for r in simulate("power_of_two", TINY).requests]
    again = [r.first_token for r in simulate("power_of_two", TINY).requests]
    assert first == again


def test_the_gateway_policies_go_through_the_real_route(monkeypatch):
    calls = []
    real = bench.sim.runner.route

    def counting(*args, **kwargs):
        calls.append(kwargs["policy"])
        return real(*args, **kwargs)

    monkeypatch.setattr(bench.sim.runner, "route", counting)
    result = simulate("affinity", TINY)
    assert calls and set(calls) == {"affinity"}
    assert len(calls) == result.route_calls


def test_the_simulator_routes_with_its_kv_saturation(monkeypatch):
    seen = set()
    real = bench.sim.runner.route

    def recording(*args, **kwargs):
        seen.add(kwargs["kv_saturation"])
        return real(*args, **kwargs)

    monkeypatch.setattr(bench.sim.runner, "route", recording)
    simulate("least_loaded", TINY)
    simulate("least_loaded", dataclasses.replace(TINY, kv_saturation=0.8))
    assert seen == {0.9, 0.8}  # AIPORTAL_KV_SATURATION's default, then the one asked for


def test_a_worker_short_of_kv_preempts_and_still_finishes_every_request():
    # Two workers whose KV cache holds ~1.5 of the longest contexts: admissions wait for
    # blocks and growing answers preempt the newest request, which is recomputed.
    small = WorkerClass("small", speed=1.0, max_batch=32, kv_blocks=200)
    config = dataclasses.replace(
        TINY,
        pool=(small, small),
        workload=WorkloadConfig(rate=1.5, duration=15.0, max_context=2_000),
    )
    result = simulate("least_loaded", config)

    assert result.unfinished == 0
    assert sum(worker.model.preemptions for worker in result.workers) > 0
    for request in result.measured:
        assert request.arrival <= request.admitted <= request.first_token <= request.finished
