"""Streams a chat completion from the pool, frame by frame, with no buffering.

Plain async Python with no Django request inside: the chat consumer and (from 2/6) the ``/v1``
API call the same code. A caller that stops iterating must close the stream (use
``contextlib.aclosing``) or cancel its task: either closes the upstream connection at once,
which is what makes vLLM abort the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

from gateway.errors import (
    GatewayError,
    ModelUnavailable,
    NoWorkers,
    UpstreamFailed,
    UpstreamRejected,
)
from gateway.http import http_client
from gateway.pool import Worker, worker_models, workers_in_turn
from gateway.sse import sse_events

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    # ttft_ms, worker, region, model, attempts
    metrics: dict[str, Any] = field(default_factory=dict)


class _AttemptFailed(Exception):
    """This worker failed before sending anything: the next one may succeed."""


async def _candidates(model: str | None) -> tuple[str, list[Worker]]:
    workers = workers_in_turn()
    if not workers:
        raise NoWorkers()
    served = await asyncio.gather(*(worker_models(worker) for worker in workers))
    answering = [(w, models) for w, models in zip(workers, served, strict=True) if models]
    if model is None:
        model = settings.AIPORTAL_DEFAULT_MODEL or next(
            (models[0] for _, models in answering), None
        )
        if model is None:
            raise GatewayError(
                "model_unavailable",
                "No model worker is answering right now. Try again shortly.",
                retryable=True,
            )
    candidates = [worker for worker, models in answering if model in models]
    if not candidates:
        raise ModelUnavailable(model)
    return model, candidates


def _request_body(
    *, model: str, messages: list[dict[str, Any]], max_tokens: int | None, seed: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": min(max_tokens or settings.AIPORTAL_MAX_TOKENS, settings.AIPORTAL_MAX_TOKENS),
    }
    if seed is not None:
        body["seed"] = seed
    return body


async def _frames(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON frames of an OpenAI-style stream; ends at ``[DONE]``. A stream that ends
    without ``[DONE]`` was cut: the worker died or the connection broke."""
    async for event in sse_events(response.aiter_bytes()):
        if event.data == "[DONE]":
            return
        try:
            frame = json.loads(event.data)
        except ValueError:
            raise UpstreamFailed("The model worker sent a malformed frame.") from None
        if isinstance(frame, dict) and "error" in frame:
            message = str((frame.get("error") or {}).get("message", "unknown error"))
            raise UpstreamFailed(f"The model worker failed: {message}")
        yield frame
    raise UpstreamFailed("The model worker stopped in the middle of the answer.")


async def chat_stream(
    *,
    messages: list[dict[str, Any]],
    model: str | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
) -> AsyncIterator[Delta | Finished]:
    """Yield the answer's text as ``Delta``s, then one ``Finished``. Raises ``GatewayError``."""
    model, candidates = await _candidates(model)
    body = _request_body(model=model, messages=messages, max_tokens=max_tokens, seed=seed)
    started = time.monotonic()
    last_error: GatewayError | None = None
    for attempt, worker in enumerate(candidates[:MAX_ATTEMPTS], start=1):
        try:
            async with http_client().stream(
                "POST", f"{worker.url}/v1/chat/completions", json=body
            ) as response:
                frames = await _open(response)
                first = await _first_frame(frames)
                metrics = {
                    "worker": worker.name,
                    "region": worker.region,
                    "model": model,
                    "attempts": attempt,
                }
                async for item in _relay(first, frames, started=started, metrics=metrics):
                    yield item
                return
        except _AttemptFailed as exc:
            logger.warning("worker %s failed before the first frame: %s", worker.name, exc)
            last_error = UpstreamFailed(str(exc))
        except httpx.TransportError as exc:
            # Connect errors land here before the first frame; after it, _relay converts.
            logger.warning("worker %s unreachable: %s", worker.name, exc)
            last_error = UpstreamFailed(f"The model worker {worker.name} is unreachable.")
    raise last_error or UpstreamFailed("No worker could serve the request.")


async def _open(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    if response.status_code >= 500:
        raise _AttemptFailed(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        await response.aread()
        detail = _error_message(response)
        raise UpstreamRejected(detail[:500], status=response.status_code)
    return _frames(response)


def _error_message(response: httpx.Response) -> str:
    """vLLM's error body: ``{"error": {"message": …}}`` since 0.10.1, flat
    ``{"object": "error", "message": …}`` before, FastAPI's ``{"detail": …}`` for routing."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        nested = body.get("error")
        if isinstance(nested, dict) and nested.get("message"):
            return str(nested["message"])
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key])
    return response.text


async def _first_frame(frames: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    try:
        async with asyncio.timeout(settings.AIPORTAL_FIRST_TOKEN_TIMEOUT):
            return await anext(frames)
    except TimeoutError:
        raise _AttemptFailed("no first frame in time") from None
    except (UpstreamFailed, StopAsyncIteration, httpx.TransportError) as exc:
        raise _AttemptFailed(str(exc) or type(exc).__name__) from None


async def _relay(
    first: dict[str, Any],
    frames: AsyncIterator[dict[str, Any]],
    *,
    started: float,
    metrics: dict[str, Any],
) -> AsyncIterator[Delta | Finished]:
    finish_reason: str | None = None
    usage: dict[str, Any] = {}

    async def all_frames() -> AsyncIterator[dict[str, Any]]:
        yield first
        try:
            async for frame in frames:
                yield frame
        except httpx.TransportError:
            raise UpstreamFailed("The connection to the model worker broke mid-answer.") from None

    async for frame in all_frames():
        if frame.get("usage"):
            usage = frame["usage"]
        for choice in frame.get("choices") or []:
            text = (choice.get("delta") or {}).get("content") or ""
            if text:
                if "ttft_ms" not in metrics:
                    metrics["ttft_ms"] = round((time.monotonic() - started) * 1000)
                yield Delta(text)
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
    metrics.setdefault("ttft_ms", round((time.monotonic() - started) * 1000))
    yield Finished(finish_reason=finish_reason, usage=usage, metrics=metrics)
