"""The latency model and the prefix cache on their own, without HTTP."""

from __future__ import annotations

import random

import pytest

from gateway.emulator.latency import LatencyModel
from gateway.emulator.prefix_cache import PrefixCache


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


def tokens(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def test_the_prefix_cache_matches_whole_blocks_of_a_shared_prefix():
    cache = PrefixCache(block_size=4, capacity_blocks=100)
    turn1 = tokens("a", 10)  # two full blocks (the last token never counts)
    turn2 = [*turn1, *tokens("b", 7)]

    assert cache.lookup(turn1) == 0
    cache.insert(turn1)
    assert cache.lookup(turn1) == 8
    assert cache.lookup(turn2) == 8
    cache.insert(turn2)
    assert cache.lookup(turn2) == 16
    assert cache.lookup(["x", *turn2[1:]]) == 0  # a different first block changes every hash
    assert (cache.queries, cache.hits) == (10 + 10 + 17 + 17 + 17, 8 + 8 + 16)


def test_the_prefix_cache_evicts_the_least_recently_used_blocks():
    cache = PrefixCache(block_size=2, capacity_blocks=4)
    first, second, third = tokens("a", 5), tokens("b", 5), tokens("c", 5)  # two blocks each

    cache.insert(first)
    cache.insert(second)
    cache.lookup(first)  # touch: second is now the oldest
    cache.insert(third)

    assert len(cache) == 4
    assert cache.lookup(first) == 4
    assert cache.lookup(third) == 4
    assert cache.lookup(second) == 0


def test_a_disabled_prefix_cache_never_hits_or_counts():
    cache = PrefixCache(block_size=2, capacity_blocks=4, enabled=False)
    cache.insert(tokens("a", 9))

    assert cache.lookup(tokens("a", 9)) == 0
    assert cache.queries == 0
