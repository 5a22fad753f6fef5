"""One worker probe's reads over real sockets, against a small HTTP server that misbehaves
in the ways a worker (or something posing as one) can: redirects, endless pages, hangs,
broken model lists. The emulator tests (test_telemetry_probe.py) cover the well-behaved
worker end to end."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiohttp import web

from gateway.telemetry import prober
from gateway.telemetry.prober import worker_probe
from gateway.telemetry.store import WorkerState
from gateway.types import WorkerSpec

METRICS = (
    "# TYPE vllm:num_requests_running gauge\n"
    'vllm:num_requests_running{engine="0"} 3\n'
    "# TYPE vllm:num_requests_waiting gauge\n"
    'vllm:num_requests_waiting{engine="0"} 2\n'
    "# TYPE vllm:kv_cache_usage_perc gauge\n"
    'vllm:kv_cache_usage_perc{engine="0"} 0.25\n'
)


@contextlib.asynccontextmanager
async def worker(routes: dict[str, web.RequestHandler]):
    """A worker on a free loopback port; yields (its URL, the requests it got)."""
    seen: list[web.Request] = []

    @web.middleware
    async def record(request, handler):
        seen.append(request)
        return await handler(request)

    app = web.Application(middlewares=[record])
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def ok(request):
    return web.Response(text="")


async def metrics(request):
    return web.Response(text=METRICS)


async def models(request):
    return web.json_response({"data": [{"id": "m1"}, {"id": "m2"}]})


def spec(url: str) -> WorkerSpec:
    return WorkerSpec(url=url, region="test-a")


async def test_a_healthy_worker_is_read_in_plain_text_with_its_key():
    routes = {"/health": ok, "/metrics": metrics, "/v1/models": models}
    async with worker(routes) as (url, seen):
        keyed = WorkerSpec(url=url, region="test-a", api_key="upstream-secret")
        state = await worker_probe(keyed, None, seconds=2, models_due=True)
    assert state.healthy and state.error == ""
    assert (state.running, state.waiting, state.kv_usage) == (3, 2, 0.25)
    assert state.models == ["m1", "m2"]
    assert {request.path for request in seen} == {"/health", "/metrics", "/v1/models"}
    for request in seen:
        # Uncompressed: a gzipped /metrics page costs both ends CPU for nothing here.
        assert request.headers.get("Accept-Encoding") == "identity"
        assert request.headers.get("Authorization") == "Bearer upstream-secret"


async def test_a_redirect_is_a_failed_read_and_is_not_followed():
    async def elsewhere(request):
        raise web.HTTPTemporaryRedirect("/elsewhere")

    routes = {"/health": elsewhere, "/metrics": elsewhere, "/elsewhere": ok}
    async with worker(routes) as (url, seen):
        state = await worker_probe(spec(url), None, seconds=2, models_due=True)
    assert not state.healthy
    assert state.error == "health: HTTP 307; metrics: HTTP 307"
    assert "/elsewhere" not in {request.path for request in seen}


async def test_a_metrics_page_past_the_cap_is_refused_and_the_old_gauges_kept(monkeypatch):
    monkeypatch.setattr(prober, "MAX_BODY", len(METRICS) - 1)
    before = WorkerState(healthy=True, models=["m1"], running=1, waiting=0, kv_usage=0.5)
    before.metrics_at = before.models_at = 1000.0
    async with worker({"/health": ok, "/metrics": metrics}) as (url, _):
        state = await worker_probe(spec(url), before, seconds=2, models_due=False)
    assert state.healthy
    assert state.error == "metrics: BodyTooLarge"
    assert (state.running, state.kv_usage, state.metrics_at) == (1, 0.5, 1000.0)


async def test_a_worker_that_hangs_is_given_up_on_after_the_probe_timeout():
    released = asyncio.Event()

    async def hang(request):
        await released.wait()
        return web.Response(text="")

    async with worker({"/health": hang, "/metrics": metrics}) as (url, _):
        started = asyncio.get_running_loop().time()
        state = await worker_probe(spec(url), None, seconds=0.3, models_due=False)
        waited = asyncio.get_running_loop().time() - started
        released.set()  # so the server can shut down
    assert not state.healthy
    assert state.error == "health: TimeoutError"
    assert state.kv_usage == 0.25  # what could be read was read
    assert waited < 5


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (web.Response(status=500, text="boom"), "models: HTTP 500"),
        (web.Response(text="not json"), "models: JSONDecodeError"),
        (web.json_response({"data": [{"name": "no id"}]}), "models: KeyError"),
    ],
    ids=["server-error", "not-json", "no-ids"],
)
async def test_an_unreadable_model_list_keeps_the_models_known(answer, error):
    async def models_answer(request):
        return answer

    before = WorkerState(healthy=True, models=["m1"], models_at=1000.0)
    async with worker({"/health": ok, "/metrics": metrics, "/v1/models": models_answer}) as (
        url,
        _,
    ):
        state = await worker_probe(spec(url), before, seconds=2, models_due=True)
    assert state.healthy
    assert state.error == error
    assert (state.models, state.models_at) == (["m1"], 1000.0)
