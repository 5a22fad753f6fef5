"""The one door from the ``/v1`` views into the gateway core: who is asking (admission),
which models they may use (access, the pool's snapshot) and the proxy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from django.http import HttpResponse

from gateway import proxy
from gateway.access import models_for_user
from gateway.api.errors import model_not_found
from gateway.callers import Caller, PolicyCheck, RateReport, caller_for_user
from gateway.rate_limits import rate_headers
from gateway.telemetry.snapshot import workers_snapshot


def conversation_key(body: dict[str, Any], *, cache_key: str | None = None) -> str | None:
    """A stable identity for a conversation sent through the stateless API, routing's
    affinity key: the client's ``prompt_cache_key`` when it sent one (it names the prefix
    its requests share, which the gateway cannot guess: a long system prompt or document
    asked about with different questions), else the opening (the messages up to the first
    user turn, which every later turn repeats), so affinity keeps the conversation on one
    worker and vLLM's prefix cache serves each turn's repeated history. Requests with the
    same key share a worker, whoever sends them, which is the point."""
    if cache_key:
        return "api-key:" + hashlib.sha256(cache_key.encode()).hexdigest()[:24]
    messages = body.get("messages")
    if not messages:
        return None
    first_user = next(
        (i for i, m in enumerate(messages) if m.get("role") == "user"), len(messages) - 1
    )
    opening = json.dumps(messages[: first_user + 1], sort_keys=True, separators=(",", ":"))
    return "api:" + hashlib.sha256(opening.encode()).hexdigest()[:24]


async def caller_for(
    *,
    key,
    body: dict[str, Any],
    policy_check: PolicyCheck,
    cache_key: str | None = None,
) -> Caller:
    """The caller for a request made with ``key`` (an ``ApiKey`` row, with its user): the
    user's policies, the key's own per-minute limits, and a report admission fills for the
    ``x-ratelimit-*`` headers."""
    caller = await caller_for_user(
        key.user,
        api_key_id=key.pk,
        conversation_key=conversation_key(body, cache_key=cache_key),
        policy_check=policy_check,
    )
    return replace(
        caller,
        key_requests_per_minute=key.requests_per_minute or 0,
        key_tokens_per_minute=key.tokens_per_minute or 0,
        rate_report=RateReport(),
    )


def rate_headers_add(response: HttpResponse, caller: Caller) -> HttpResponse:
    """The ``x-ratelimit-*`` headers of the limits that applied, on any answer admission
    reached (a success, a 429, a failure upstream)."""
    for name, value in rate_headers(caller.rate_report).items():
        response[name] = value
    return response


async def models_visible(*, user) -> list[str]:
    """Models the user may use that a healthy worker serves now, in a stable order."""
    return list(await models_for_user(user))


async def _models_known() -> set[str]:
    """Every model a configured worker is known to serve, healthy or not."""
    return {model for view in await workers_snapshot() for model in view.models}


async def model_check(*, model: str) -> None:
    """404 ``model_not_found`` at once for a model no worker is known to serve (from the
    in-memory snapshot: no database query). Whether the user may use a known model is the
    proxy's check (``ModelForbidden``, the same 404); a known model whose workers are all
    down goes on to the proxy too, which answers 503 (a retry may succeed), not 404."""
    if model not in await _models_known():
        raise model_not_found(model)


def completion_stream(
    *, endpoint: proxy.Endpoint, body: dict[str, Any], caller: Caller
) -> AsyncIterator[dict[str, Any]]:
    return proxy.completion_stream(endpoint=endpoint, body=body, caller=caller)


def completion_batches(
    *, endpoint: proxy.Endpoint, body: dict[str, Any], caller: Caller
) -> AsyncIterator[list[dict[str, Any]]]:
    return proxy.completion_batches(endpoint=endpoint, body=body, caller=caller)


async def completion_once(
    *, endpoint: proxy.Endpoint, body: dict[str, Any], caller: Caller
) -> dict[str, Any]:
    return await proxy.completion_once(endpoint=endpoint, body=body, caller=caller)
