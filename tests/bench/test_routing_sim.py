"""The routing simulator's invariants on a tiny trace (its figures are for bench/, not tests)."""

from __future__ import annotations

import dataclasses
import math

import pytest

import bench.sim.runner
from bench.sim.runner import ALL_POLICIES, SimConfig, simulate
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
        mine = [r for r in result.requests if r.worker == worker.index]
        started = [r for r in mine if not math.isnan(r.first_token)]
        finished = [r for r in mine if not math.isnan(r.finished)]
        decoding = [r for r in started if math.isnan(r.finished)]
        # Every prompt token was either found in the cache or prefilled.
        prefilled = sum(r.prompt_tokens - r.hit_tokens for r in started)
        in_progress = sum(
            r.prompt_tokens - r.hit_tokens - r.prefill_left for r in worker.prefilling
        )
        assert worker.prefilled == pytest.approx(prefilled + in_progress, rel=1e-6)
        assert worker.pool.hit_tokens == sum(
            r.hit_tokens for r in mine if not math.isnan(r.admitted)
        )
        # Every answer token after the first was decoded once, by the worker that ran it.
        decoded = sum(r.output_tokens - 1 for r in finished)
        partial = sum(
            r.output_tokens - 1 - (finish - worker.vclock) for finish, _, r in worker.decoding
        )
        assert {id(r) for _, _, r in worker.decoding} == {id(r) for r in decoding}
        assert worker.decoded == pytest.approx(decoded + partial, rel=1e-6)
        assert worker.first_tokens == len(started)
        assert 0 <= worker.pool.used <= worker.pool.total


def test_without_prefix_caching_nothing_is_ever_a_hit():
    result = simulate("affinity", dataclasses.replace(TINY, prefix_caching=False))
    assert result.unfinished == 0
    assert sum(r.hit_tokens for r in result.requests) == 0
    assert all(worker.pool.hit_tokens == 0 for worker in result.workers)
    assert all(worker.prefilled > 0 for worker in result.workers if worker.first_tokens)


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
