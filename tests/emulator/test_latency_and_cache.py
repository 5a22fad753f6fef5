"""The latency model on its own, without HTTP (the prefix cache is the behaviour model's:
tests/emulator/test_behaviour_model.py)."""

from __future__ import annotations

import random

import pytest

from gateway.emulator.latency import LatencyModel


def test_decode_slows_down_as_more_requests_share_the_worker():
    model = LatencyModel(tokens_per_second=50, concurrency_slowdown=0.1)

    alone = model.inter_token_seconds(running=1)
    shared = model.inter_token_seconds(running=11)

    assert alone == pytest.approx(1 / 50)
    assert shared == pytest.approx(2 / 50)  # ten more requests: twice as slow


def test_time_to_first_token_grows_with_uncached_prompt_tokens():
    model = LatencyModel(ttft_ms=30, prefill_tokens_per_second=10_000, concurrency_slowdown=0)

    assert model.ttft_seconds(uncached_prompt_tokens=0, running=1) == pytest.approx(0.030)
    assert model.ttft_seconds(uncached_prompt_tokens=5_000, running=1) == pytest.approx(0.530)


def test_jitter_stays_within_its_bounds():
    model = LatencyModel(tokens_per_second=100, jitter=0.2)
    rng = random.Random(1)

    samples = [model.inter_token_seconds(running=1, rng=rng) for _ in range(200)]

    assert min(samples) >= 0.008 and max(samples) <= 0.012
    assert len(set(samples)) > 100


@pytest.mark.parametrize("bad", [{"tokens_per_second": 0}, {"max_concurrency": 0}, {"jitter": 1}])
def test_nonsense_latency_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        LatencyModel(**bad)
