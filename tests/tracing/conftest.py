"""Fixtures for the tracing tests: a real OTLP/HTTP receiver, a Daphne and a Celery worker that
export to it (tracing turned on by the standard OTEL_* variables, as an operator would), and
tracing in this test process for a test's duration only."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import _database_url, start_daphne
from tests.datasets.conftest import (  # noqa: F401 (fixtures)
    LEASE_S,
    Worker,
    dataset,
    datasets_dir,
    refill_now,
    upload,
)
from tests.tracing.receiver import OtlpReceiver


def otel_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "aiportal-test",
        # Spans leave within a tenth of a second of their end, so tests wait little.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def traced_daphne(django_db_setup, django_db_blocker, emulator_url, receiver) -> Iterator[str]:
    """A real Daphne with tracing on, against the test database and the session's emulator."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_SAVE_INTERVAL_MS": "100",
            "AIPORTAL_CHAT_TITLES": "false",
            "AIPORTAL_LOG_FORMAT": "json",
            **otel_env(receiver),
        }
    )
    yield url
    process.stop()


@pytest.fixture
def traced_worker(transactional_db, settings, datasets_dir, receiver) -> Iterator[Worker]:  # noqa: F811
    """A real Celery worker process with tracing on (tests/datasets/conftest.py's worker)."""
    settings.AIPORTAL_DATASET_LEASE = LEASE_S
    worker = Worker(
        {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "AIPORTAL_DB_POOL": "false",
            "AIPORTAL_DATASETS_DIR": str(datasets_dir),
            "AIPORTAL_DATASET_LEASE_S": str(LEASE_S),
            **otel_env(receiver),
        }
    )
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def local_tracing(receiver) -> Iterator[Callable[..., object]]:
    """``local_tracing(capture_content=False)``: tracing on in this process until the test
    ends, exporting the spans to the receiver as they end; returns the provider."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from common.telemetry import tracing_configure

    providers: list[TracerProvider] = []

    def start(*, capture_content: bool = False) -> TracerProvider:
        resource = Resource.create({"service.name": "aiportal-test", "aiportal.process": "test"})
        provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")
        # Exported from the batch processor's thread, as in production (aiportal/tracing.py),
        # every 50 ms. A span exported where it ended blocked an async test's event loop for
        # the HTTP call: on a loaded machine long enough for the gateway, on that loop, to
        # give up waiting for the worker's first frame.
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
        providers.append(provider)
        tracing_configure(tracer=provider.get_tracer("tests"), capture_content=capture_content)
        return provider

    yield start
    tracing_configure(tracer=None)
    for provider in providers:
        provider.shutdown()
