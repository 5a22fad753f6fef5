"""OpenTelemetry for one process: the tracer provider, the OTLP/HTTP exporter, and the two
instrumentations that fit this stack. docs/operations.md, "Tracing", says how to turn it on.

Called once per process: the web process (aiportal/asgi.py), a Celery worker and beat
(aiportal/celery.py, their init signals). Off unless settings.AIPORTAL_TRACING (which reads
the standard ``OTEL_*`` variables); then nothing here is imported beyond this module, and
common/telemetry.py's helpers cost one attribute check.

The exporter, batching and sampling read their own standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``,
``OTEL_TRACES_SAMPLER``…), as every OpenTelemetry SDK does.

With ``OTEL_METRICS_EXPORTER=otlp`` (settings.AIPORTAL_OTEL_METRICS) it also sets up a meter
provider for the GenAI conventions' histograms (gateway/tracing.py records them), beside the
Prometheus ``/metrics``.

Instrumentations, and why only these:

- **ASGI** (``opentelemetry-instrumentation-asgi``) around the HTTP application: one server
  span per request, for Django's pages and for the ``/v1`` handler alike (which runs without
  Django's middleware, so the Django instrumentation would miss it; that one also runs its
  hooks through ``sync_to_async``, a thread hop per request). Its spans per ``send`` and
  ``receive`` are left out: a streamed answer would make one per token. Websockets are not
  wrapped: a socket lives for hours, and a trace per socket would hold every answer of the
  day. The chat consumer opens a span per frame that starts an answer instead.
- **Celery** (``opentelemetry-instrumentation-celery``): the publisher puts the trace context
  in the task's headers and the worker's task span continues it, so a refill's spans sit in
  the trace of the request (or beat tick) that queued it.

Not used: the aiohttp client instrumentation (the gateway's upstream attempt opens its own
client span and sends ``traceparent`` itself, with the model and the worker on it; the
instrumentation would add a second span per attempt and one per health probe each second),
Redis (a span per published delta, a span per token), httpx (dataset fetches would carry
``traceparent`` to any site a dataset names).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.conf import settings

from common.telemetry import meter, metrics_configure, tracing_configure, tracing_on

logger = logging.getLogger(__name__)

TRACER_NAME = "aiportal"


def tracing_setup(*, process: str) -> bool:
    """Set up tracing (and OpenTelemetry metrics) for this process (``web``, ``worker`` or
    ``beat``) if the settings ask for it, once. Returns whether tracing is on."""
    if settings.AIPORTAL_OTEL_METRICS and meter() is None:
        _metrics_setup(process)
    if tracing_on() or not settings.AIPORTAL_TRACING:
        return tracing_on()
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=_resource(process))
    # Batched in a thread of its own: a span's end never waits for the collector. The SDK
    # restarts that thread in a forked child (Celery's prefork pool).
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    tracing_configure(
        tracer=provider.get_tracer(TRACER_NAME),
        capture_content=settings.AIPORTAL_OTEL_CAPTURE_CONTENT,
    )
    CeleryInstrumentor().instrument(tracer_provider=provider)
    logger.info("tracing on (%s): spans go to the OTLP/HTTP endpoint", process)
    return True


def _resource(process: str) -> Any:
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, Any] = {"aiportal.process": process}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "aiportal"
    return Resource.create(attributes)


def _metrics_setup(process: str) -> None:
    """The GenAI conventions' histograms (gateway/tracing.py records them), exported over
    OTLP/HTTP every ``OTEL_METRIC_EXPORT_INTERVAL`` milliseconds (60 s by default)."""
    from opentelemetry import metrics
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    provider = MeterProvider(resource=_resource(process), metric_readers=[reader])
    metrics.set_meter_provider(provider)
    metrics_configure(meter=provider.get_meter(TRACER_NAME))


def http_traced(app: Any) -> Any:
    """``app`` with a server span per HTTP request when tracing is on; ``app`` itself when
    off."""
    if not tracing_on():
        return app
    from opentelemetry import trace
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.util.http import ExcludeList

    return OpenTelemetryMiddleware(
        app,
        # Health checks and Prometheus scrapes come every few seconds and say nothing.
        excluded_urls=ExcludeList([r"/(healthz|metrics)(\?|$)"]),
        default_span_details=_span_details,
        tracer_provider=trace.get_tracer_provider(),
        exclude_spans=["receive", "send"],
    )


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The span's name: the method and the URL pattern (``GET chat/c/<int:pk>/``), not the
    path, whose ids would make every request's name its own."""
    from django.urls import Resolver404, resolve

    method = str(scope.get("method") or "HTTP")
    try:
        route = resolve(scope.get("path") or "/").route
    except Resolver404:
        return method, {}
    return f"{method} {route}", {"http.route": route}
