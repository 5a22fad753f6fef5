"""The emulator's HTTP app: vLLM's routes plus the /emulator/ test controls.

``create_app(config)`` builds an ``aiohttp.web.Application``; ``running_emulator(config)``
serves one on 127.0.0.1 with a free port in the current event loop, for tests;
``__main__`` serves one from the command line.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .config import EmulatorConfig
from .embeddings import embedding_response, embedding_seconds, parse_embedding
from .engine import Engine
from .faults import FaultController, FaultSpec, FaultSpecError
from .generation import ClientGone, Generation, pause
from .lora import LoraStates
from .minilm import minilm_embed
from .protocol import (
    ApiError,
    check_lengths,
    error_body,
    models_body,
    parse_chat,
    parse_completion,
    tokenize_body,
    validation_error,
)
from .rerank import parse_rerank, parse_score, rerank_response, score_response, score_seconds
from .responses import ResponsesGeneration, parse_responses, responses_error

# Bodies as large as a long conversation: vLLM itself sets no limit, aiohttp's default is 1 MiB.
CLIENT_MAX_SIZE = 64 * 1024 * 1024
# How long a graceful stop waits for in-flight requests before cancelling them (as aborts).
SHUTDOWN_TIMEOUT = 1.0
REQUEST_ID = "X-Request-Id"


@dataclass
class EmulatorState:
    config: EmulatorConfig
    engine: Engine
    faults: FaultController
    started_at: int
    # The X-Request-Id of the latest generation requests, newest last (tests read it).
    request_ids: deque[str] = field(default_factory=lambda: deque(maxlen=64))
    # The W3C traceparent header of the latest generation and embedding requests that sent
    # one, newest last: vLLM continues that trace in its own spans (tests check the gateway's).
    traceparents: deque[str] = field(default_factory=lambda: deque(maxlen=64))
    # GET /load's count: generation and embedding requests in flight (with load tracking).
    server_load: int = 0
    # The number of inputs of each embedding request answered, newest last (tests count the
    # batches a caller sent).
    embedding_batches: deque[int] = field(default_factory=lambda: deque(maxlen=256))
    lora: LoraStates | None = None


STATE = web.AppKey("emulator_state", EmulatorState)


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _api_error(state: EmulatorState, error: ApiError) -> web.Response:
    body = error_body(error.message, error.err_type, error.status, state.config.errors, error.param)
    return _json(body, status=error.status)


# --- vLLM's routes ------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except json.JSONDecodeError as exc:
        if _state(request).config.current:
            # FastAPI turns a body that is not JSON into a RequestValidationError located
            # at the character where decoding failed.
            raise validation_error(
                "json_invalid", f"body.{exc.pos}", "JSON decode error", "{}", error=exc.msg
            ) from None
        raise ApiError(400, f"JSON decode error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"JSON decode error: {exc}") from None


def _refusal(state: EmulatorState, fault: FaultSpec, *, engine_error: bool) -> web.Response | None:
    """The answer of a request-level fault that refuses before any work: 503 or 500."""
    fmt = state.config.errors
    if fault.status_503:
        message = "The server is overloaded or not ready yet."
        return _json(error_body(message, "ServiceUnavailableError", 503, fmt), status=503)
    if engine_error:
        message = "The engine failed to take the request."
        return _json(error_body(message, "InternalServerError", 500, fmt), status=500)
    return None


def _queue_full(state: EmulatorState) -> web.Response | None:
    """vLLM 0.34's admission check (vllm/v1/engine/async_llm.py ``check_admission``): a
    request that would make unfinished requests exceed ``--max-num-queued-reqs`` gets
    ``QueueOverflowError``'s 503 (vllm/exceptions.py), its type the status phrase."""
    limit = state.config.max_num_queued_reqs
    if limit is None or state.engine.unfinished + 1 <= limit:
        return None
    if state.engine.metrics.admission_rejections is not None:
        state.engine.metrics.admission_rejections.inc()
    message = (
        "The engine is currently busy and cannot accept new requests. "
        "Please try again later or on a different instance."
    )
    body = error_body(message, "Service Unavailable", 503, state.config.errors)
    return _json(body, status=503)


def _poisoned(text: str, config: EmulatorConfig) -> bool:
    """Input this worker cannot process: vLLM's tokenizer raises on a lone surrogate (it
    cannot be encoded), and ``--poison`` names more."""
    if config.poison is not None and config.poison in text:
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _engine_error(state: EmulatorState) -> web.Response:
    state.engine.poisoned += 1
    message = "The engine failed to process the request's input."
    body = error_body(message, "InternalServerError", 500, state.config.errors)
    return _json(body, status=500)


@asynccontextmanager
async def _load_tracked(state: EmulatorState) -> AsyncIterator[None]:
    """vLLM's ``load_aware_call`` (vllm/entrypoints/serve/utils/api_utils.py): with
    --enable-server-load-tracking, a request counts in /load from its arrival until its
    response (a stream: its last byte) is done."""
    if not state.config.server_load_tracking:
        yield
        return
    state.server_load += 1
    try:
        yield
    finally:
        state.server_load -= 1


async def _generate(request: web.Request, kind: str) -> web.StreamResponse:
    async with _load_tracked(_state(request)):
        return await _generate_tracked(request, kind)


async def _generate_tracked(request: web.Request, kind: str) -> web.StreamResponse:
    state = _state(request)
    _traceparent_record(state, request)
    responses_body: dict[str, Any] | None = None
    try:
        if kind == "responses":
            # Its own request, checks and errors (gateway/emulator/responses.py).
            gen_request, responses_body = parse_responses(await _json_body(request), state.config)
            max_tokens = gen_request.max_tokens or 1
            if client_id := request.headers.get(REQUEST_ID):
                state.request_ids.append(client_id)
        else:
            parse = parse_chat if kind == "chat" else parse_completion
            gen_request = parse(await _json_body(request), state.config)
            if client_id := request.headers.get(REQUEST_ID):
                # vLLM names the request after the client's id (serve/engine/serving.py).
                prefix = "chatcmpl" if kind == "chat" else "cmpl"
                gen_request.request_id = f"{prefix}-{client_id}"
                state.request_ids.append(client_id)
            max_tokens = check_lengths(gen_request, state.config.max_model_len)
    except ApiError as error:
        if kind == "responses":
            return responses_error(error)
        return _api_error(state, error)
    if _poisoned(gen_request.prompt, state.config):
        return _engine_error(state)
    if full := _queue_full(state):
        return full

    fault = state.faults.take_for_request()
    if refusal := _refusal(state, fault, engine_error=fault.status_500):
        return refusal

    kind_args = {} if responses_body is None else {"body": responses_body}
    generation = (Generation if responses_body is None else ResponsesGeneration)(
        **kind_args,
        http_request=request,
        engine=state.engine,
        config=state.config,
        request=gen_request,
        max_tokens=max_tokens,
        fault=fault,
        lora=state.lora if gen_request.model not in state.config.models else None,
    )
    return await generation.run()


def _traceparent_record(state: EmulatorState, request: web.Request) -> None:
    if traceparent := request.headers.get("traceparent"):
        state.traceparents.append(traceparent)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, "chat")


async def completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, "completion")


async def responses(request: web.Request) -> web.StreamResponse:
    return await _generate(request, "responses")


async def embeddings(request: web.Request) -> web.StreamResponse:
    async with _load_tracked(_state(request)):
        return await _embeddings(request)


async def _embeddings(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    _traceparent_record(state, request)
    try:
        embedding_request = parse_embedding(await _json_body(request), state.config)
    except ApiError as error:
        return _api_error(state, error)
    if any(_poisoned(text, state.config) for text, _ in embedding_request.inputs):
        return _engine_error(state)
    # The request faults that mean something without a stream: refusals, an engine error
    # (fail_before_first_token is a 500, as for a non-streaming generation) and a crash.
    fault = state.faults.take_for_request()
    engine_error = fault.status_500 or fault.fail_before_first_token
    if refusal := _refusal(state, fault, engine_error=engine_error):
        return refusal
    vectors = None
    if embedding_request.model in state.config.minilm_models:
        # A real model takes its own time: it stands for the latency model's pause.
        texts = [text for text, _ in embedding_request.inputs]
        vectors = await asyncio.to_thread(minilm_embed, texts)
    else:
        try:
            await pause(request, embedding_seconds(embedding_request, state.config))
        except ClientGone:
            return web.Response(status=499)
    if fault.die_after_tokens is not None and request.transport is not None:
        request.transport.close()  # a crashed worker: no response at all
        return web.Response(status=500)
    state.embedding_batches.append(len(embedding_request.inputs))
    return _json(embedding_response(embedding_request, state.config, vectors=vectors))


async def rerank(request: web.Request) -> web.StreamResponse:
    async with _load_tracked(_state(request)):
        return await _scored(request, kind="rerank")


async def score(request: web.Request) -> web.StreamResponse:
    async with _load_tracked(_state(request)):
        return await _scored(request, kind="score")


async def _scored(request: web.Request, *, kind: str) -> web.StreamResponse:
    """A cross-encoder's pass (gateway/emulator/rerank.py), with the faults that mean
    something without a stream, as for embeddings; a stall holds the answer back for
    ``stall_seconds`` (None: until the client leaves), as a worker stuck in its queue."""
    state = _state(request)
    parse = parse_rerank if kind == "rerank" else parse_score
    try:
        score_request = parse(await _json_body(request), state.config)
    except ApiError as error:
        return _api_error(state, error)
    if any(_poisoned(q + d, state.config) for q, d in score_request.pairs):
        return _engine_error(state)
    fault = state.faults.take_for_request()
    engine_error = fault.status_500 or fault.fail_before_first_token
    if refusal := _refusal(state, fault, engine_error=engine_error):
        return refusal
    seconds = score_seconds(score_request, state.config)
    if fault.stall_after_tokens is not None:
        seconds += math.inf if fault.stall_seconds is None else fault.stall_seconds
    try:
        await pause(request, seconds)
    except ClientGone:
        return web.Response(status=499)
    if fault.die_after_tokens is not None and request.transport is not None:
        request.transport.close()  # a crashed worker: no response at all
        return web.Response(status=500)
    if kind == "rerank":
        return _json(rerank_response(score_request))
    return _json(score_response(score_request, state.config))


async def tokenize_route(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        return _json(tokenize_body(await _json_body(request), state.config))
    except ApiError as error:
        return _api_error(state, error)


async def models(request: web.Request) -> web.Response:
    state = _state(request)
    return _json(models_body(state.config, state.started_at))


async def health(request: web.Request) -> web.Response:
    if _state(request).faults.take_health():
        return web.Response(status=503)
    return web.Response(status=200)


async def version(request: web.Request) -> web.Response:
    return _json({"version": _state(request).config.version_string})


async def load(request: web.Request) -> web.Response:
    # vllm/entrypoints/serve/instrumentator/basic.py: always served; the count only moves
    # with --enable-server-load-tracking.
    return _json({"server_load": _state(request).server_load})


async def metrics(request: web.Request) -> web.Response:
    state = _state(request)
    if state.config.disable_log_stats:
        # vLLM 0.34 keeps serving /metrics without its stat loggers: the HTTP server's and
        # the process's series remain, not one vllm: series.
        return web.Response(body=STATS_DISABLED_PAGE, headers={"Content-Type": CONTENT_TYPE_LATEST})
    payload = state.engine.metrics.render()
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


STATS_DISABLED_PAGE = (
    b"# HELP http_requests_total Total number of requests by method, status and handler.\n"
    b"# TYPE http_requests_total counter\n"
    b'http_requests_total{handler="/v1/chat/completions",method="POST",status="2xx"} 0.0\n'
    b"# HELP process_open_fds Number of open file descriptors.\n"
    b"# TYPE process_open_fds gauge\n"
    b"process_open_fds 12.0\n"
)


# --- test controls ------------------------------------------------------------------------


async def faults_set(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        spec = FaultSpec.from_json(await request.json())
    except (json.JSONDecodeError, UnicodeDecodeError, FaultSpecError) as exc:
        return _json({"error": str(exc)}, status=400)
    state.faults.set(spec)
    return _json({"faults": state.faults.to_json()})


async def faults_clear(request: web.Request) -> web.Response:
    state = _state(request)
    state.faults.clear()
    return _json({"faults": state.faults.to_json()})


async def state_get(request: web.Request) -> web.Response:
    state = _state(request)
    return _json(
        {
            "region": state.config.region,
            "models": list(state.config.models),
            **state.engine.state(),
            "request_ids": list(state.request_ids),
            "traceparents": list(state.traceparents),
            "embedding_batches": list(state.embedding_batches),
            "faults": state.faults.to_json(),
        }
    )


# --- the app --------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _fastapi_style_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown routes and methods answer like vLLM's FastAPI does: JSON ``{"detail": …}``."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _json({"detail": "Not Found"}, status=404)
    except web.HTTPMethodNotAllowed as exc:
        return _json(
            {"detail": "Method Not Allowed"},
            status=405,
            headers={"Allow": exc.headers.get("Allow", "")},
        )


async def _request_id_echo(request: web.BaseRequest, response: web.StreamResponse) -> None:
    # vLLM with --enable-request-id-headers (serve/middleware/x_request_id.py): the client's
    # id, or a new uuid4 hex, on every response.
    response.headers.setdefault(REQUEST_ID, request.headers.get(REQUEST_ID) or uuid.uuid4().hex)


def create_app(config: EmulatorConfig) -> web.Application:
    app = web.Application(client_max_size=CLIENT_MAX_SIZE, middlewares=[_fastapi_style_errors])
    engine = Engine(config)
    lora = None
    if config.lora_modules and not config.disable_log_stats:
        lora = LoraStates(max_loras=config.max_loras)
        engine.metrics.registry.register(lora.collector())
    app[STATE] = EmulatorState(
        config=config,
        engine=engine,
        faults=FaultController(config.faults),
        started_at=int(time.time()),
        lora=lora,
    )
    app.on_response_prepare.append(_request_id_echo)
    if config.region is not None:
        region = config.region

        async def add_region(request: web.BaseRequest, response: web.StreamResponse) -> None:
            response.headers["x-aiportal-region"] = region

        app.on_response_prepare.append(add_region)

    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/responses", responses)
    # vLLM serves the rerank API at both paths, and the score API at both too.
    for path in ("/rerank", "/v1/rerank"):
        app.router.add_post(path, rerank)
    for path in ("/score", "/v1/score"):
        app.router.add_post(path, score)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/tokenize", tokenize_route)
    app.router.add_get("/health", health)
    if config.current:
        # vllm/entrypoints/serve/sagemaker/api_router.py: /ping answers as /health does,
        # to GET and POST; /load (serve/instrumentator/basic.py).
        app.router.add_get("/ping", health)
        app.router.add_post("/ping", health)
        app.router.add_get("/load", load)
    app.router.add_get("/version", version)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/emulator/faults", faults_set)
    app.router.add_delete("/emulator/faults", faults_clear)
    app.router.add_get("/emulator/state", state_get)
    return app


def make_runner(app: web.Application, *, keep_alive: float = 5.0) -> web.AppRunner:
    # handler_cancellation: a client that disconnects cancels its handler at once, which is
    # how the emulator aborts a request the moment its client goes away (vLLM does the same).
    # keepalive_timeout: an idle connection is closed after this long, as vLLM's uvicorn does
    # after VLLM_HTTP_TIMEOUT_KEEP_ALIVE (5 s).
    return web.AppRunner(
        app,
        handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log=None,
        keepalive_timeout=keep_alive,
    )


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the emulator is not listening on a TCP port")


@asynccontextmanager
async def running_emulator(config: EmulatorConfig | None = None) -> AsyncIterator[str]:
    """Serve an emulator on 127.0.0.1 with a free port in the running loop; yields its URL."""
    config = config or EmulatorConfig.fast()
    runner = make_runner(create_app(config), keep_alive=config.keep_alive)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{bound_port(runner)}"
    finally:
        await runner.cleanup()
