"""The gateway's spans, after the OpenTelemetry GenAI semantic conventions.

One span per request (``chat {model}``, ``text_completion {model}``, ``embeddings {model}``;
kind CLIENT, as the conventions have it for a call to a model server), with the model, the
token usage, the time to the first chunk and how the request went; under it the admission
(budgets, stream slot, model access, the fair queue), each routing decision and each upstream
attempt, whose ``traceparent`` header makes the worker's own spans (vLLM's
``--otlp-traces-endpoint``) children of it. docs/operations.md, "Tracing", lists them.

Off (common/telemetry.py), each function here returns at its first line. Nothing is done per
token: the request's figures are read from its report once, at its end.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from common import telemetry
from common.telemetry import SpanKind

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from gateway.types import WorkerView

# The conventions' gen_ai.operation.name for each upstream endpoint.
_OPERATIONS = {
    "chat/completions": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "responses": "chat",
}


def request_span(*, endpoint: str, body: dict[str, Any], caller: Any) -> Span | None:
    """The request's span, child of whatever is current (the /v1 request's server span, the
    chat frame's span). Its name gets the model once admission has chosen it."""
    if not telemetry.tracing_on():
        return None
    operation = _OPERATIONS.get(endpoint, endpoint)
    conversation = caller.conversation_key or ""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.system": telemetry.GEN_AI_SYSTEM,
        "gen_ai.provider.name": telemetry.GEN_AI_SYSTEM,
        "gen_ai.request.model": body.get("model") if isinstance(body.get("model"), str) else None,
        "gen_ai.request.max_tokens": _number(body.get("max_tokens")),
        "gen_ai.request.temperature": _number(body.get("temperature")),
        "gen_ai.request.top_p": _number(body.get("top_p")),
        "gen_ai.request.seed": _number(body.get("seed")),
        "gen_ai.conversation.id": conversation.removeprefix("conversation:") or None,
        "aiportal.api_key_id": caller.api_key_id,
        "enduser.id": str(caller.user_id) if caller.user_id is not None else None,
    }
    if telemetry.content_captured():
        attributes["gen_ai.input.messages"] = _json(_input_messages(body))
    return telemetry.span_start(operation, kind=SpanKind.CLIENT, attributes=attributes)


def request_span_model(span: Span | None, *, endpoint: str, model: str) -> None:
    if span is None:
        return
    span.update_name(f"{_OPERATIONS.get(endpoint, endpoint)} {model}")
    span.set_attribute("gen_ai.response.model", model)


def request_span_end(
    span: Span | None, *, report: Any, error: BaseException | None, answer: Any = None
) -> None:
    """The request's figures from its report (gateway/proxy.py ``_Report``), then the end."""
    if span is None:
        return
    if report.outcome == "superseded":
        # Turned back because the access rules changed, and made again: no failure.
        error = None
    usage = report.usage or {}
    spec = report.worker.spec if report.worker else None
    stitch = report.stitch
    ttft = report.ttft_ms
    telemetry.span_set(
        span,
        {
            "gen_ai.usage.input_tokens": _number(usage.get("prompt_tokens")),
            "gen_ai.usage.output_tokens": _number(usage.get("completion_tokens")),
            "gen_ai.usage.cache_read.input_tokens": report.cached_tokens,
            "gen_ai.response.time_to_first_chunk": ttft / 1000 if ttft is not None else None,
            "aiportal.generation_ms": report.generation_ms,
            "aiportal.outcome": report.outcome,
            "aiportal.attempts": report.attempts,
            "aiportal.failovers": report.failovers,
            "aiportal.continued": report.continued,
            "aiportal.worker": spec.name if spec else None,
            "aiportal.region": spec.region if spec else None,
        },
    )
    if stitch is not None and stitch.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [stitch.finish_reason])
    if telemetry.content_captured():
        text = "".join(stitch.text) if stitch is not None else _answer_text(answer)
        if text:
            output = [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]
            span.set_attribute("gen_ai.output.messages", _json(output))
    telemetry.span_end(span, error=error)


def admission_span(parent: Span | None) -> Any:
    """The admission, current for its block (budgets, the stream slot, the fair queue)."""
    return telemetry.span("gateway.admission", parent=parent)


def route_span(parent: Span | None, *, policy: str, attempt: int) -> Span | None:
    return telemetry.span_start(
        "gateway.route",
        parent=parent,
        attributes={"aiportal.routing.policy": policy, "aiportal.attempt": attempt},
    )


def route_span_end(span: Span | None, view: WorkerView | None) -> None:
    if span is None:
        return
    if view is None:
        span.set_attribute("aiportal.worker", "")
    else:
        telemetry.span_set(
            span, {"aiportal.worker": view.spec.name, "aiportal.region": view.spec.region}
        )
    span.end()


def attempt_span(parent: Span | None, *, view: WorkerView, path: str, attempt: int) -> Span | None:
    """One upstream HTTP request (kind CLIENT): the span whose ``traceparent`` the worker
    receives (``telemetry.trace_headers``)."""
    if parent is None:
        return None
    url = f"{view.spec.url}/v1/{path}"
    host, _, port = view.spec.url.split("://", 1)[-1].partition("/")[0].rpartition(":")
    return telemetry.span_start(
        f"POST /v1/{path}",
        kind=SpanKind.CLIENT,
        parent=parent,
        attributes={
            "http.request.method": "POST",
            "url.full": url,
            "server.address": host or port,
            "server.port": int(port) if host and port.isdigit() else None,
            "aiportal.worker": view.spec.name,
            "aiportal.region": view.spec.region,
            "aiportal.attempt": attempt,
        },
    )


# --- Metrics (the GenAI conventions' client histograms; OTEL_METRICS_EXPORTER=otlp) ----------


def _histogram(name: str, unit: str, description: str) -> Any:
    return telemetry.histogram(name, unit=unit, description=description)


def metrics_on() -> bool:
    return telemetry.meter() is not None


def chunk_observe(seconds: float, *, model: str) -> None:
    """One chunk after the first one: the time since the chunk before it. Called per frame
    that brought tokens, and only while metrics are on (``metrics_on``)."""
    histogram = _histogram(
        "gen_ai.client.operation.time_per_output_chunk",
        "s",
        "Time from the end of the previous chunk to the end of this one",
    )
    if histogram is not None:
        histogram.record(seconds, _metric_attributes(model))


def request_metrics(*, report: Any, endpoint: str) -> None:
    """A finished request: its duration, its tokens, its time to the first chunk."""
    if not metrics_on():
        return
    attributes = _metric_attributes(report.model, endpoint=endpoint)
    spec = report.worker.spec if report.worker else None
    if spec is not None:
        attributes["server.address"] = spec.name
    if report.outcome not in ("complete", "stopped"):
        attributes["error.type"] = report.outcome
    duration = _histogram(
        "gen_ai.client.operation.duration", "s", "Duration of a request to the model"
    )
    duration.record(report.elapsed_s(), attributes)
    tokens = _histogram("gen_ai.client.token.usage", "{token}", "Tokens used by a request")
    usage = report.usage or {}
    for kind, key in (("input", "prompt_tokens"), ("output", "completion_tokens")):
        if isinstance(usage.get(key), int):
            tokens.record(usage[key], {**attributes, "gen_ai.token.type": kind})
    if report.ttft_ms is not None and report.first_at is not None:
        first = _histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time from the request to the first chunk of its answer",
        )
        first.record(report.ttft_ms / 1000, attributes)


def _metric_attributes(model: str, *, endpoint: str = "chat/completions") -> dict[str, Any]:
    return {
        "gen_ai.operation.name": _OPERATIONS.get(endpoint, endpoint),
        "gen_ai.provider.name": telemetry.GEN_AI_SYSTEM,
        "gen_ai.system": telemetry.GEN_AI_SYSTEM,
        "gen_ai.response.model": model or "-",
    }


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What was sent, in the conventions' shape: ``[{"role", "parts": [{"type", "content"}]}]``
    (text parts keep their text; an image or another part is named by its type only)."""
    if not isinstance(body.get("messages"), list):
        prompt = body.get("input", body.get("prompt"))
        return [{"role": "user", "parts": [{"type": "text", "content": _json_text(prompt)}]}]
    messages = []
    for message in body["messages"]:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        parts: list[dict[str, Any]] = []
        if isinstance(content, str):
            parts.append({"type": "text", "content": content})
        elif isinstance(content, list):
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text":
                    parts.append({"type": "text", "content": part.get("text", "")})
                else:
                    parts.append({"type": str(kind)})
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments"),
                    }
                )
        messages.append({"role": message.get("role"), "parts": parts})
    return messages


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _answer_text(answer: Any) -> str:
    """A non-streaming chat or completion answer's text (embeddings have none)."""
    if not isinstance(answer, dict):
        return ""
    parts = []
    for choice in answer.get("choices") or ():
        if isinstance(choice, dict):
            message = choice.get("message")
            content = message.get("content") if isinstance(message, dict) else choice.get("text")
            if isinstance(content, str):
                parts.append(content)
    return "".join(parts)
