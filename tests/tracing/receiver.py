"""A real OTLP/HTTP receiver for the tracing tests: an aiohttp server on a free loopback port,
in a thread of its own, that accepts ``POST /v1/traces`` and ``POST /v1/metrics`` as every
OpenTelemetry exporter sends them (protobuf ``ExportTraceServiceRequest`` and
``ExportMetricsServiceRequest``, gzip or not), decodes them with ``opentelemetry-proto`` and
keeps the spans and the histograms' latest points for the tests to read."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

WAIT = 15  # seconds: an upper bound for spans to arrive, never a sleep


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    kind: int  # opentelemetry.proto.trace.v1.Span.SpanKind
    attributes: dict[str, Any]
    resource: dict[str, Any]
    links: tuple[str, ...]  # the linked spans' ids


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass(frozen=True)
class HistogramPoint:
    """A histogram's point as last exported (cumulative: the count and sum since the start)."""

    attributes: tuple[tuple[str, Any], ...]
    count: int
    sum: float


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        # metric name → the latest point per attribute set
        self.histograms: dict[str, dict[tuple[tuple[str, Any], ...], HistogramPoint]] = {}
        self.requests = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._serve, daemon=True, name="otlp receiver")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the OTLP receiver did not start")

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._metrics)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()

    async def _metrics(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415)
        export = ExportMetricsServiceRequest()
        export.ParseFromString(await _body(request))
        with self._lock:
            for resource_metrics in export.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.WhichOneof("data") != "histogram":
                            continue
                        points = self.histograms.setdefault(metric.name, {})
                        for point in metric.histogram.data_points:
                            key = tuple(sorted(_attributes(point.attributes).items()))
                            points[key] = HistogramPoint(key, point.count, point.sum)
        return web.Response(
            body=ExportMetricsServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def histogram(self, name: str, **attributes: Any) -> list[HistogramPoint]:
        """The latest points of histogram ``name`` whose attributes include ``attributes``."""
        with self._lock:
            points = list(self.histograms.get(name, {}).values())
        return [
            point
            for point in points
            if all(dict(point.attributes).get(k) == v for k, v in attributes.items())
        ]

    async def _traces(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415)
        export = ExportTraceServiceRequest()
        export.ParseFromString(await _body(request))
        received = []
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes=_attributes(span.attributes),
                            resource=resource,
                            links=tuple(link.span_id.hex() for link in span.links),
                        )
                    )
        with self._lock:
            self.spans.extend(received)
            self.requests += 1
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], Any], *, timeout: float = WAIT
    ) -> Any:
        """Poll until ``predicate(spans)`` is truthy; return it."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.received()
            if found := predicate(spans):
                return found
            if time.monotonic() > deadline:
                names = sorted({span.name for span in spans})
                raise AssertionError(f"no such spans in {timeout} s; received: {names}")
            time.sleep(0.05)

    def stop(self) -> None:
        async def close() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _body(request: web.Request) -> bytes:
    body = await request.read()
    return gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body


def trace_of(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.trace_id == trace_id]
