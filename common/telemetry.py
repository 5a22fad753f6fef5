"""Tracing: how the project's code opens spans, whether or not tracing is on.

Off by default, and then every helper here is one attribute check and nothing else: no span
object, no context change, no header. aiportal/tracing.py turns it on once per process
(``tracing_configure``) when the ``OTEL_*`` variables ask for it (docs/operations.md,
"Tracing"); until then the tracer is never asked.

Spans are started with an explicit parent where the code runs inside an async generator (the
gateway's streams): making a span *current* there would leak it to whoever iterates the
generator between two items, and detaching it later may happen in another context. Plain
functions and frames use ``span`` (current for its block) or ``traced``.

Message content (prompts, answers, tool arguments and results, retrieval queries) is recorded
only when an admin opted in (``AIPORTAL_OTEL_CAPTURE_CONTENT``): ``content_captured()`` says
so, and every caller that would record content asks it first.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.trace import Span, Status, StatusCode, Tracer
from opentelemetry.trace import SpanKind as SpanKind  # re-exported: callers name span kinds

P = ParamSpec("P")
R = TypeVar("R")

AttributeValue = str | bool | int | float
Attributes = Mapping[str, AttributeValue | None]

# The GenAI semantic conventions' name for the model server kind (vLLM and its emulator).
GEN_AI_SYSTEM = "vllm"


class _State:
    """Module state, set by ``tracing_configure`` only (one place, so tests can restore it)."""

    on = False
    tracer: Tracer = trace.NoOpTracer()
    capture_content = False
    # OpenTelemetry metrics (OTEL_METRICS_EXPORTER=otlp), beside tracing or alone.
    meter: Meter | None = None
    histograms: dict[str, Histogram] = {}  # replaced whole by metrics_configure


_state = _State()


def tracing_configure(*, tracer: Tracer | None, capture_content: bool = False) -> None:
    """Turn tracing on with ``tracer``, or off with None (the default state)."""
    _state.on = tracer is not None
    _state.tracer = tracer if tracer is not None else trace.NoOpTracer()
    _state.capture_content = capture_content and tracer is not None


def metrics_configure(*, meter: Meter | None) -> None:
    """Turn OpenTelemetry metrics on with ``meter``, or off with None (the default)."""
    _state.meter = meter
    _state.histograms = {}


def meter() -> Meter | None:
    """The meter when OpenTelemetry metrics are on, else None."""
    return _state.meter


def histogram(name: str, *, unit: str, description: str) -> Histogram | None:
    """The histogram ``name`` of this process's meter (made once), or None when metrics are
    off."""
    if _state.meter is None:
        return None
    found = _state.histograms.get(name)
    if found is None:
        found = _state.histograms[name] = _state.meter.create_histogram(
            name, unit=unit, description=description
        )
    return found


def tracing_on() -> bool:
    return _state.on


def content_captured() -> bool:
    """Whether message content may be recorded on spans (an admin's opt-in)."""
    return _state.capture_content


def span_start(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
    parent: Span | None = None,
) -> Span | None:
    """A started span (not made current), child of ``parent`` or of the current span; None
    when tracing is off. End it with ``span_end``."""
    if not _state.on:
        return None
    context = trace.set_span_in_context(parent) if parent is not None else None
    return _state.tracer.start_span(name, context=context, kind=kind, attributes=_clean(attributes))


def span_end(span: Span | None, *, error: BaseException | None = None) -> None:
    """End ``span``; an error (not a cancellation or a closed generator) marks it failed."""
    if span is None:
        return
    if error is not None:
        span_error(span, error)
    span.end()


def span_error(span: Span | None, error: BaseException) -> None:
    if span is None or isinstance(error, (GeneratorExit, KeyboardInterrupt)):
        return
    if type(error).__name__ == "CancelledError":
        span.set_attribute("aiportal.cancelled", True)
        return
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(Status(StatusCode.ERROR, str(error)[:200]))


def span_set(span: Span | None, attributes: Attributes) -> None:
    if span is not None:
        span.set_attributes(_clean(attributes))


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
    parent: Span | None = None,
) -> Iterator[Span | None]:
    """A span current for the block (never use it around a ``yield``); None when off."""
    started = span_start(name, kind=kind, attributes=attributes, parent=parent)
    if started is None:
        yield None
        return
    token = otel_context.attach(trace.set_span_in_context(started))
    try:
        yield started
    except BaseException as exc:
        span_error(started, exc)
        raise
    finally:
        otel_context.detach(token)
        started.end()


def traced(
    name: str, *, attributes: Attributes | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A span around every call of the decorated function (sync or async), current inside."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                if not _state.on:
                    return await function(*args, **kwargs)
                with span(name, attributes=attributes):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _state.on:
                return function(*args, **kwargs)
            with span(name, attributes=attributes):
                return function(*args, **kwargs)

        return run

    return decorate


def trace_headers(span: Span | None) -> dict[str, str]:
    """The W3C ``traceparent`` (and ``tracestate``) that make ``span`` the parent of what the
    receiver does; empty when off."""
    headers: dict[str, str] = {}
    if span is not None:
        propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers


def trace_ids() -> tuple[str, str] | None:
    """The current trace and span ids in hex, for log lines; None outside a recorded span."""
    if not _state.on:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _clean(attributes: Attributes | None) -> dict[str, AttributeValue]:
    """Attributes without the ones that are None (unknown): OpenTelemetry refuses None."""
    if not attributes:
        return {}
    return {key: value for key, value in attributes.items() if value is not None}
