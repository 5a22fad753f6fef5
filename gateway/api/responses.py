"""``POST /v1/responses``: OpenAI's Responses API, as vLLM 0.34 serves it, through the gateway.

The same door as ``/v1/chat/completions`` (views.py): the API key, field review
(validation.py ``responses_body``), the affinity key, admission, model access, routing and
failover (gateway/responses_proxy.py), X-Request-Id, the usage record. The stream is relayed
as vLLM writes it: each event on an ``event:`` line naming its type and a ``data:`` line, no
``[DONE]``. The first event is awaited before the response starts, so a request refused or
failed before any output gets its real status. When the answer breaks off after that, the
stream ends with a ``response.failed`` event built from what the client already has
(``Transcript``): the response it was told about, the output so far marked incomplete, the
next sequence number and the error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from gateway.api import upstream, validation
from gateway.api.auth import api_key_required, api_methods
from gateway.api.errors import ApiError, error_response, from_gateway_error
from gateway.api.views import _gateway_error_response, request_id_tagged
from gateway.errors import GatewayError
from gateway.responses_proxy import responses_once, responses_stream

logger = logging.getLogger(__name__)


def _event(data: dict[str, Any]) -> bytes:
    kind = data.get("type")
    if not isinstance(kind, str) or not kind.isprintable():
        return b"data: " + orjson.dumps(data) + b"\n\n"
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation a Responses body carries, as chat messages (instructions first, a
    string input as one user message), for the affinity key: a client that resends its
    growing input each turn keeps the same opening, so the same worker and its prefix cache.
    Content is reduced to its text, so ``"hi"`` and ``[{"type": "input_text", "text":
    "hi"}]`` are the same opening."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    for item in items or ():
        if item.get("type", "message") == "message":
            messages.append({"role": item.get("role"), "content": _text(item.get("content"))})
    return messages


class Transcript:
    """What the client has been sent of one Responses stream: enough to end it properly."""

    def __init__(self) -> None:
        self.response: dict[str, Any] | None = None
        self.sequence = -1
        self.items: dict[int, dict[str, Any]] = {}  # by output_index
        self.done: set[int] = set()
        self.texts: dict[int, list[str]] = {}

    def saw(self, event: dict[str, Any]) -> None:
        sequence = event.get("sequence_number")
        if isinstance(sequence, int) and not isinstance(sequence, bool):
            self.sequence = max(self.sequence, sequence)
        kind = event.get("type")
        index = event.get("output_index")
        if kind in ("response.created", "response.in_progress"):
            if isinstance(event.get("response"), dict):
                self.response = event["response"]
        elif not isinstance(index, int):
            return
        elif kind in ("response.output_item.added", "response.output_item.done"):
            if isinstance(event.get("item"), dict):
                self.items[index] = event["item"]
                if kind == "response.output_item.done":
                    self.done.add(index)
        elif kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self.texts.setdefault(index, []).append(event["delta"])

    def _output(self) -> list[dict[str, Any]]:
        output = []
        for index in sorted(self.items):
            item = self.items[index]
            if index not in self.done:
                item = {**item, "status": "incomplete"}
                text = "".join(self.texts.get(index, ()))
                if item.get("type") == "message" and text:
                    item["content"] = [
                        {"annotations": [], "text": text, "type": "output_text", "logprobs": None}
                    ]
            output.append(item)
        return output

    def failed(self, message: str) -> dict[str, Any]:
        """The stream's last event: ``response.failed``, or an ``error`` event when the
        worker never described its response."""
        sequence = self.sequence + 1
        if self.response is None:
            return {
                "code": "server_error",
                "message": message,
                "param": None,
                "sequence_number": sequence,
                "type": "error",
            }
        response = {
            **self.response,
            "status": "failed",
            "output": self._output(),
            "error": {"code": "server_error", "message": message},
        }
        return {"response": response, "sequence_number": sequence, "type": "response.failed"}


async def _relay(first: dict[str, Any], events: AsyncIterator[dict[str, Any]]):
    transcript = Transcript()
    async with contextlib.aclosing(events):
        try:
            transcript.saw(first)
            yield _event(first)
            async for event in events:
                transcript.saw(event)
                yield _event(event)
        except GatewayError as exc:
            yield _event(transcript.failed(exc.detail))
        except Exception:
            logger.exception("a /v1/responses stream failed after its first event")
            yield _event(transcript.failed("The stream failed."))


async def _stream(body: dict[str, Any], caller: Any) -> HttpResponse:
    events = responses_stream(body=body, caller=caller)
    try:
        first = await anext(events)
    except StopAsyncIteration:
        return error_response(ApiError(502, "The worker sent no events.", code="upstream_failed"))
    except GatewayError as exc:
        await events.aclose()
        return _gateway_error_response(exc, model=body["model"])
    except BaseException:
        # The client left while we waited (CancelledError), or a bug: close upstream first.
        await events.aclose()
        raise
    response = StreamingHttpResponse(_relay(first, events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@csrf_exempt
@request_id_tagged
@api_methods("POST")
@api_key_required
async def responses(request: HttpRequest) -> HttpResponse:
    key = request.api_key
    try:
        body = validation.responses_body(validation.request_json(request))
        cache_key = body.pop(validation.CACHE_KEY, None)
        await upstream.model_check(model=body["model"])
        caller = await upstream.caller_for(
            key=key,
            body={"messages": input_messages(body)},
            policy_check=request.policy_check,
            cache_key=cache_key,
        )
    except ApiError as error:
        return error_response(error)
    except GatewayError as exc:
        return error_response(from_gateway_error(exc))
    if body.get("stream"):
        return upstream.rate_headers_add(await _stream(body, caller), caller)
    try:
        answer = await responses_once(body=body, caller=caller)
    except GatewayError as exc:
        return upstream.rate_headers_add(_gateway_error_response(exc, model=body["model"]), caller)
    response = JsonResponse(answer, json_dumps_params={"ensure_ascii": False})
    return upstream.rate_headers_add(response, caller)
