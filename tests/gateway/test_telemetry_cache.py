"""The workers' cache as the prober reads it: KV capacity from vllm:cache_config_info and the
prefix-cache hit rate between two scrapes of vllm:prefix_cache_{queries,hits}_total, in the
snapshot and in the portal's /metrics."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway import metrics
from gateway.telemetry.prober import prefix_hit_rate
from gateway.telemetry.prometheus import WorkerGauges, metrics_parse
from gateway.telemetry.snapshot import snapshot_wait
from gateway.telemetry.store import WorkerState
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401

# vLLM 0.34's info gauge, shortened to a few of its labels (every CacheConfig field is one).
CACHE_CONFIG = """\
# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",\
num_gpu_blocks="{blocks}",kv_cache_size_tokens="5120",engine="0"} 1.0
vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",\
num_gpu_blocks="{blocks}",kv_cache_size_tokens="5120",engine="1"} 1.0
"""
LOAD = """\
vllm:num_requests_running{engine="0",model_name="m"} 0.0
vllm:num_requests_waiting{engine="0",model_name="m"} 0.0
"""


def test_the_kv_capacity_is_blocks_times_block_size_once_for_all_engines():
    gauges = metrics_parse(CACHE_CONFIG.replace("{blocks}", "640") + LOAD)
    # num_gpu_blocks is already the worker's whole cache (vLLM sums its engines'): not 2x.
    assert gauges.kv_capacity_tokens == 640 * 16


def test_look_alike_labels_are_not_the_block_size():
    text = (
        'vllm:cache_config_info{mamba_block_size="64",hash_block_size="32",engine="0",'
        'num_gpu_blocks="100",block_size="16",kv_cache_dtype_skip_layers="[\'a\', \'b\']"} 1.0\n'
    )
    assert metrics_parse(LOAD + text).kv_capacity_tokens == 1600


@pytest.mark.parametrize("blocks", ["None", "0", "lots"])
def test_a_cache_not_sized_yet_has_no_capacity(blocks):
    assert metrics_parse(CACHE_CONFIG.replace("{blocks}", blocks) + LOAD).kv_capacity_tokens is None


def _scraped(queries: float, hits: float) -> WorkerGauges:
    return WorkerGauges(0, 0, 0, prefix_queries=queries, prefix_hits=hits)


def _before(queries: float | None, hits: float | None, rate: float | None = None) -> WorkerState:
    return WorkerState(
        prefix_queries=queries, prefix_hits=hits, prefix_hit_rate=rate, metrics_at=time.time()
    )


def test_the_hit_rate_is_the_hits_between_two_scrapes_over_the_lookups():
    # 1,000 tokens looked up since the last probe, 750 found: not 800/1,400 since start.
    assert prefix_hit_rate(_before(400, 50), _scraped(1400, 800)) == 0.75


def test_a_quiet_interval_keeps_the_last_rate():
    assert prefix_hit_rate(_before(1400, 800, rate=0.75), _scraped(1400, 800)) == 0.75


def test_a_restarted_worker_counts_from_zero():
    assert prefix_hit_rate(_before(5000, 4000, rate=0.8), _scraped(200, 50)) == 0.25


def test_the_first_scrape_has_no_rate_yet():
    assert prefix_hit_rate(WorkerState(), _scraped(1400, 800)) is None
    assert prefix_hit_rate(_before(400, 50), WorkerGauges(0, 0, 0)) is None


async def test_the_prober_reads_the_capacity_and_the_hit_rate_of_a_real_worker(
    telemetry, emulators
):
    url = emulators("--block-size", "16", "--kv-cache-blocks", "2048", region="eu")
    telemetry.AIPORTAL_WORKERS = f"{url}@eu"
    [view] = await snapshot_wait(after=time.time())
    assert view.kv_capacity_tokens == 2048 * 16
    assert view.prefix_hit_rate is None  # nothing looked up yet
    body = {
        "messages": [{"role": "user", "content": "Tell me about bread. " * 80}],
        "max_tokens": 2,
    }
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        # A cold prompt, seen by a probe, then the same prompt again: the rate is the second
        # request's alone (the worker counts its lookup and hits in one step).
        (await client.post("/v1/chat/completions", json=body)).raise_for_status()
        before = (await client.get("/emulator/state")).json()
        await snapshot_wait(after=time.time())
        (await client.post("/v1/chat/completions", json=body)).raise_for_status()
        after = (await client.get("/emulator/state")).json()
    hits = after["prefix_cache_hits"] - before["prefix_cache_hits"]
    expected = hits / (after["prefix_cache_queries"] - before["prefix_cache_queries"])
    assert 0.5 < expected < 1

    [view] = await snapshot_wait(after=time.time())
    assert view.prefix_hit_rate == pytest.approx(expected)
    labels = {"worker": view.spec.name, "region": "eu"}
    get = metrics.REGISTRY.get_sample_value
    assert get("aiportal_worker_kv_capacity_tokens", labels) == 2048 * 16
    assert get("aiportal_worker_prefix_cache_hit_rate", labels) == pytest.approx(expected)
