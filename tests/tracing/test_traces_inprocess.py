"""Tracing turned on in this test process for one test (``local_tracing``), into the same real
OTLP/HTTP receiver: a refill queued under a request's span runs in a real Celery worker as part
of that trace, and message content reaches spans only when an admin opted in."""

from __future__ import annotations

import json
import logging

import pytest

from common import telemetry
from tests.datasets.conftest import corpus, job_wait
from tests.gateway.proxy_support import chat_collect
from tests.tracing.receiver import trace_of

PROMPT = "Tell me about numbats and their termite diet"


def test_a_refill_in_a_real_worker_continues_the_trace_that_queued_it(
    traced_worker, receiver, local_tracing, dataset, upload, owner
):
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    from datasets.models import RefillJob
    from datasets.services.refill import dataset_refill_start

    provider = local_tracing()
    # The publishing side, as the web process has it: the trace context goes in the headers.
    CeleryInstrumentor().instrument(tracer_provider=provider)
    try:
        upload(dataset, corpus(2))
        with telemetry.span("refill requested") as request:
            job = dataset_refill_start(dataset=dataset, user=owner)  # queued on commit
    finally:
        CeleryInstrumentor().uninstrument()
    finished = {RefillJob.Status.SUCCEEDED, RefillJob.Status.FAILED}
    job = job_wait(job.pk, lambda j: j.status in finished, worker=traced_worker)
    assert job.status == RefillJob.Status.SUCCEEDED, job.message
    trace_id = format(request.get_span_context().trace_id, "032x")
    task = "datasets.tasks.dataset_refill_run"

    def ran(spans):
        trace = trace_of(spans, trace_id)
        return trace if any(s.name == f"run/{task}" for s in trace) else None

    trace = receiver.wait_for(ran)
    published = next(s for s in trace if s.name == f"apply_async/{task}")
    run = next(s for s in trace if s.name == f"run/{task}")
    assert published.parent_id == format(request.get_span_context().span_id, "016x")
    assert run.parent_id == published.span_id
    assert run.resource["aiportal.process"] == "worker"
    assert run.attributes["celery.state"] == "SUCCESS"


async def test_content_is_on_the_spans_only_when_an_admin_opted_in(
    receiver, local_tracing, workers
):
    for capture in (False, True):
        provider = local_tracing(capture_content=capture)
        with telemetry.span(f"capture {capture}") as outer:
            text, _ = await chat_collect(
                messages=[{"role": "user", "content": PROMPT}], max_tokens=12
            )
        provider.force_flush()
        trace_id = format(outer.get_span_context().trace_id, "032x")
        trace = receiver.wait_for(
            lambda spans, trace_id=trace_id: [
                s for s in trace_of(spans, trace_id) if s.name.startswith("chat ")
            ]
        )
        attributes = trace[0].attributes
        if not capture:
            assert "gen_ai.input.messages" not in attributes
            assert "numbats" not in json.dumps(attributes)
            continue
        assert json.loads(attributes["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
        ]
        output = json.loads(attributes["gen_ai.output.messages"])
        assert output[0]["parts"][0]["content"] == text and text


def test_retrieval_is_a_span_with_the_query_only_when_opted_in(
    receiver, local_tracing, dataset, upload, refill_now, owner
):
    from chat.services.conversations import conversation_create
    from chat.services.retrieval import conversation_datasets_set, conversation_retrieve

    upload(dataset, corpus(2))
    refill_now(dataset)
    conversation = conversation_create(user=owner)
    conversation_datasets_set(conversation=conversation, datasets=[dataset.pk])
    for capture in (False, True):
        local_tracing(capture_content=capture)
        retrieval = conversation_retrieve(user=owner, conversation=conversation, query="marker1x2")
        assert retrieval.citations
        spans = receiver.wait_for(
            lambda spans, n=int(capture) + 1: (
                found if len(found := [s for s in spans if s.name == "retrieval"]) == n else None
            )
        )
        span = spans[-1]
        assert span.attributes["aiportal.retrieval.passages"] == len(retrieval.citations)
        assert span.attributes["aiportal.retrieval.datasets"] == 1
        search = receiver.wait_for(
            lambda spans, parent=span.span_id: [
                s for s in spans if s.name == "datasets.search" and s.parent_id == parent
            ]
        )
        assert search
        if capture:
            assert span.attributes["aiportal.retrieval.query"] == "marker1x2"
        else:
            assert "marker1x2" not in json.dumps(span.attributes)


def test_json_log_lines_carry_the_trace_and_span_ids(local_tracing):
    from common.log_format import JsonFormatter

    local_tracing()
    record = logging.LogRecord(
        "aiportal.x", logging.WARNING, __file__, 1, "slow %s", ("answer",), None
    )
    record.worker = "gpu1"
    with telemetry.span("request") as span:
        line = json.loads(JsonFormatter().format(record))
    context = span.get_span_context()
    assert line["message"] == "slow answer" and line["level"] == "WARNING"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert line["worker"] == "gpu1"
    # Outside a span (or with tracing off) the line has no ids, and is still JSON.
    assert "trace_id" not in json.loads(JsonFormatter().format(record))


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_say_so(monkeypatch, environ, wanted):
    from aiportal import settings as settings_module

    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert settings_module._tracing_wanted() is wanted


def test_a_grpc_exporter_or_another_one_stops_the_start(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from aiportal import settings as settings_module

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ImproperlyConfigured, match="http/protobuf"):
        settings_module._tracing_wanted()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ImproperlyConfigured, match="otlp or none"):
        settings_module._tracing_wanted()
