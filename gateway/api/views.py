"""The ``/v1`` endpoints: validate, ask the core, answer in OpenAI's shapes.

Streaming answers are Server-Sent Events written as each upstream frame arrives. The first
frame is awaited before the response starts, so a request refused or failed before any
output (429, 503, 404, …) gets its real status; after that the status is 200, and a failure
is an SSE error frame followed by ``[DONE]``. A client that goes away cancels the response
(Django's ASGI handler), and closing the frame iterator closes the upstream connection,
which makes vLLM abort the request.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from gateway.api import upstream, validation
from gateway.api.auth import api_key_required, api_methods
from gateway.api.conform import reply_conformed
from gateway.api.errors import (
    ApiError,
    bad_request,
    error_response,
    from_gateway_error,
    model_not_found,
)
from gateway.capabilities import amodel_accepts_images, messages_have_images
from gateway.errors import GatewayError
from gateway.request_id import HEADER as REQUEST_ID_HEADER
from gateway.request_id import request_id_accept, request_id_start

logger = logging.getLogger(__name__)

_DONE = b"data: [DONE]\n\n"
# vLLM's model cards carry the server's start time; ours carry the process's.
_STARTED = int(time.time())


def _sse(data: dict[str, Any]) -> bytes:
    # orjson: compact UTF-8, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes.
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _events(batch: list[dict[str, Any]]) -> bytes:
    # The chunks that came in one read, in one write (gateway/proxy.py completion_batches).
    if len(batch) == 1:
        return _sse(batch[0])
    return b"".join(_sse(frame) for frame in batch)


async def _relay(first: list[dict[str, Any]], batches: AsyncIterator[list[dict[str, Any]]]):
    async with contextlib.aclosing(batches):
        try:
            yield _events(first)
            async for batch in batches:
                yield _events(batch)
        except GatewayError as exc:
            yield _sse(from_gateway_error(exc).body())
        except Exception:
            logger.exception("a /v1 stream failed after its first frame")
            yield _sse(ApiError(500, "The stream failed.", code="internal_error").body())
        # Not reached on cancellation (the client left): nobody is there to read it.
        yield _DONE


async def _done_only():
    yield _DONE  # an upstream stream with no frame at all: still a well-formed SSE answer


def _gateway_error_response(exc: GatewayError, *, model: str) -> HttpResponse:
    if exc.code == "model_not_found":
        # Word for word the answer for a model that does not exist: a user must not tell a
        # model they may not use from one that is not there.
        return error_response(model_not_found(model))
    return error_response(from_gateway_error(exc))


def request_id_tagged(view: Callable[..., Any]) -> Callable[..., Any]:
    """One id for the request (gateway/request_id.py): the client's own X-Request-Id when it
    is a safe token, else a new one; sent to every worker tried, and returned here."""

    @functools.wraps(view)
    async def tagged(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request_id = request_id_start(request_id_accept(request.headers.get(REQUEST_ID_HEADER)))
        response = await view(request, *args, **kwargs)
        response[REQUEST_ID_HEADER] = request_id
        return response

    return tagged


async def _stream(*, endpoint: str, body: dict[str, Any], caller: Any) -> HttpResponse:
    frames = upstream.completion_batches(endpoint=endpoint, body=body, caller=caller)
    try:
        first = await anext(frames)
    except StopAsyncIteration:
        first = None
    except GatewayError as exc:
        await frames.aclose()
        return _gateway_error_response(exc, model=body["model"])
    except BaseException:
        # The client left while we waited (CancelledError), or a bug: close upstream first.
        await frames.aclose()
        raise
    content = _relay(first, frames) if first is not None else _done_only()
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # nginx, and proxies that honour its header, must pass each event on as it comes.
    response["X-Accel-Buffering"] = "no"
    return response


async def _generate(
    request: HttpRequest, *, endpoint: str, validate: Callable[[dict], dict]
) -> HttpResponse:
    key = request.api_key
    try:
        body = validate(validation.request_json(request))
        # The gateway's own field: the affinity key, not for the worker (validation.py).
        cache_key = body.pop(validation.CACHE_KEY, None)
        await upstream.model_check(model=body["model"])
        # Forwarded unchanged to a model that reads images; refused here for one that does
        # not, rather than left to whatever its worker would make of them.
        if (
            endpoint == "chat/completions"
            and messages_have_images(body.get("messages"))
            and not await amodel_accepts_images(model=body["model"])
        ):
            raise bad_request(
                f"The model `{body['model']}` does not accept images.",
                param="messages",
                code="model_no_images",
            )
        caller = await upstream.caller_for(
            key=key,
            body=body,
            policy_check=request.policy_check,
            cache_key=cache_key,
        )
    except ApiError as error:
        return error_response(error)
    except GatewayError as exc:
        return error_response(from_gateway_error(exc))
    if body.get("stream"):
        response = await _stream(endpoint=endpoint, body=body, caller=caller)
        return upstream.rate_headers_add(response, caller)
    try:
        answer = await upstream.completion_once(endpoint=endpoint, body=body, caller=caller)
    except GatewayError as exc:
        return upstream.rate_headers_add(_gateway_error_response(exc, model=body["model"]), caller)
    response = JsonResponse(reply_conformed(answer), json_dumps_params={"ensure_ascii": False})
    return upstream.rate_headers_add(response, caller)


@csrf_exempt
@request_id_tagged
@api_methods("POST")
@api_key_required
async def chat_completions(request: HttpRequest) -> HttpResponse:
    return await _generate(request, endpoint="chat/completions", validate=validation.chat_body)


@csrf_exempt
@request_id_tagged
@api_methods("POST")
@api_key_required
async def completions(request: HttpRequest) -> HttpResponse:
    return await _generate(request, endpoint="completions", validate=validation.completion_body)


@csrf_exempt
@request_id_tagged
@api_methods("POST")
@api_key_required
async def embeddings(request: HttpRequest) -> HttpResponse:
    return await _generate(request, endpoint="embeddings", validate=validation.embedding_body)


def _model_card(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": _STARTED, "owned_by": "aiportal"}


@csrf_exempt
@request_id_tagged
@api_methods("GET")
@api_key_required
async def models(request: HttpRequest) -> HttpResponse:
    names = await upstream.models_visible(user=request.api_key.user)
    return JsonResponse({"object": "list", "data": [_model_card(name) for name in names]})


@csrf_exempt
@request_id_tagged
@api_methods("GET")
@api_key_required
async def model_detail(request: HttpRequest, model: str) -> HttpResponse:
    if model not in await upstream.models_visible(user=request.api_key.user):
        return error_response(model_not_found(model))
    return JsonResponse(_model_card(model))


@csrf_exempt
@request_id_tagged
async def not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Unknown /v1 paths answer in OpenAI's shape too (the SDK shows the message)."""
    return error_response(ApiError(404, f"Unknown endpoint /v1/{rest}.", code="unknown_url"))
