"""vLLM's ORCA load header: parsing, and folding it into the pool's view."""

import asyncio
import time

import httpx
import pytest

from gateway.redis import redis_client
from gateway.telemetry import store
from gateway.telemetry.orca import HEADER, orca_parse, worker_load_update
from gateway.telemetry.snapshot import snapshot_wait, workers_snapshot
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401


def test_it_reads_vllms_text_format():
    value = "TEXT named_metrics.kv_cache_usage_perc=0.25, named_metrics.num_requests_waiting=2.0"
    assert orca_parse(value) == {"kv_cache_usage_perc": 0.25, "num_requests_waiting": 2.0}


def test_it_reads_vllms_json_format():
    value = 'JSON {"named_metrics": {"kv_cache_usage_perc": 0.5, "num_requests_waiting": 3}}'
    assert orca_parse(value) == {"kv_cache_usage_perc": 0.5, "num_requests_waiting": 3.0}


def test_it_keeps_orcas_standard_fields_by_name():
    value = "TEXT cpu_utilization=0.3, named_metrics.num_requests_waiting=1"
    assert orca_parse(value) == {"cpu_utilization": 0.3, "num_requests_waiting": 1.0}


def test_a_data_parallel_workers_engines_are_added_up():
    # vLLM 0.34 with --data-parallel-size 2: each name once per engine.
    value = (
        "TEXT named_metrics.num_requests_waiting=3.0, named_metrics.num_requests_waiting=1.0, "
        "named_metrics.kv_cache_usage_perc=0.75, named_metrics.kv_cache_usage_perc=0.25"
    )
    assert orca_parse(value) == {"num_requests_waiting": 4.0, "kv_cache_usage_perc": 0.5}


async def test_a_data_parallel_emulators_report_is_the_whole_workers_load(telemetry, emulators):
    url = emulators(
        "--data-parallel-size", "2", "--max-concurrency", "1", "--tokens-per-second", "200",
        "--kv-cache-blocks", "64",
    )  # fmt: skip
    body = {"messages": [{"role": "user", "content": "hello " * 200}], "max_tokens": 30}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def ask():
            return await client.post(
                "/v1/chat/completions", json=body, headers={"endpoint-load-metrics-format": "text"}
            )

        responses = await asyncio.gather(ask(), ask(), ask())
    header = max((r.headers[HEADER] for r in responses), key=lambda h: orca_parse(h).get(
        "num_requests_waiting", 0))  # fmt: skip
    pairs = [pair.split("=") for pair in header.removeprefix("TEXT ").split(", ")]
    waiting = [float(v) for k, v in pairs if k == "named_metrics.num_requests_waiting"]
    kv = [float(v) for k, v in pairs if k == "named_metrics.kv_cache_usage_perc"]
    assert len(waiting) == len(kv) == 2  # one per engine
    assert sum(waiting) >= 1
    assert orca_parse(header) == {
        "num_requests_waiting": sum(waiting),
        "kv_cache_usage_perc": pytest.approx(sum(kv) / 2),
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {}),
        ("garbage", {}),
        ("BINARY abc", {}),
        ("JSON {not json", {}),
        ("JSON [1, 2]", {}),
        ("TEXT named_metrics.kv_cache_usage_perc=high", {}),
        (
            "TEXT named_metrics.kv_cache_usage_perc=nan, named_metrics.num_requests_waiting=4",
            {"num_requests_waiting": 4.0},
        ),
        ('JSON {"named_metrics": {"num_requests_waiting": true}}', {}),
    ],
)
def test_it_skips_what_it_cannot_read(value, expected):
    assert orca_parse(value) == expected


async def test_the_emulators_header_updates_the_view_at_once(telemetry, emulators):
    url = emulators(
        "--max-concurrency", "1", "--tokens-per-second", "200", "--kv-cache-blocks", "64"
    )
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    telemetry.AIPORTAL_PROBE_INTERVAL = 5.0  # the probe must not be what brings the news
    [before] = await snapshot_wait(after=0)
    assert before.waiting == 0
    body = {"messages": [{"role": "user", "content": "hello " * 200}], "max_tokens": 30}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def ask():
            return await client.post(
                "/v1/chat/completions", json=body, headers={"endpoint-load-metrics-format": "text"}
            )

        # Three at once on one slot: the first answer is measured with two still queued.
        responses = await asyncio.gather(ask(), ask(), ask())
    headers = [r.headers[HEADER] for r in responses]
    loads = [orca_parse(h) for h in headers]
    busiest = max(loads, key=lambda load: load["num_requests_waiting"])
    assert busiest["num_requests_waiting"] >= 1
    await worker_load_update(url, busiest)
    [view] = await workers_snapshot()
    assert view.waiting == busiest["num_requests_waiting"]
    assert view.kv_usage == pytest.approx(busiest["kv_cache_usage_perc"])
    assert view.metrics_age < 0.5


async def test_another_process_sees_the_report_through_redis(telemetry):
    url = "http://127.0.0.1:9"
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    await snapshot_wait(after=0)
    await worker_load_update(url, {"num_requests_waiting": 7.0, "kv_cache_usage_perc": 0.8})
    # As a process that did not receive the header: nothing local, only what Redis holds.
    store.orca_local.clear()
    store.copy_invalidate()
    [view] = await workers_snapshot()
    assert (view.waiting, view.kv_usage) == (7.0, 0.8)
    assert view.metrics_age < 1


async def test_an_older_report_does_not_override_a_newer_probe(telemetry, emulator_url):
    url = emulator_url
    telemetry.AIPORTAL_WORKERS = f"{url}@test-a"
    # A report from long before the probes that follow.
    await redis_client().hset(store.orca_key(), url, '{"at": 1.0, "waiting": 9.0}')
    [view] = await snapshot_wait(after=time.time())
    assert view.waiting == 0


async def test_a_report_without_known_metrics_changes_nothing(telemetry):
    await worker_load_update("http://127.0.0.1:9", {"cpu_utilization": 0.5})
    assert "http://127.0.0.1:9" not in store.orca_local
