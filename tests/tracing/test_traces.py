"""Traces end to end, received by a real OTLP/HTTP receiver (tests/tracing/receiver.py): a chat
answer over a real Daphne's websocket is one trace from the frame to the worker, a /v1 request's
server span holds the gateway's, a refill in a real Celery worker continues the trace of what
queued it, and message content is on spans only when an admin opted in."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import httpx
from django.test import Client

from tests.gateway.api_support import bearer, emulator_state, key_for
from tests.tracing.receiver import ReceivedSpan, trace_of

WAIT = 15  # seconds: an upper bound for one event, never a sleep
SERVER, CLIENT = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind
PROMPT = "Tell me about numbats and their termite diet"
MODEL = "aiportal-emulator"


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def chat_answer(url: str, cookie: str, content: str) -> list[dict]:
    """Send one message over the chat websocket; the frames up to the answer's end."""
    frames: list[dict] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url.replace("http://", "ws://") + "/ws/chat/",
            headers={"Origin": url, "Cookie": f"sessionid={cookie}"},
        ) as socket,
    ):
        frame = {"type": "chat.send", "conversation": None, "content": content, "client_id": "t"}
        await socket.send_str(json.dumps(frame))
        async with asyncio.timeout(WAIT):
            while not frames or frames[-1]["type"] not in {"message.done", "message.error"}:
                frames.append(json.loads(await socket.receive_str()))
    return frames


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, (name, [span.name for span in spans])
    return found[0]


def values_of(spans: list[ReceivedSpan]) -> str:
    return json.dumps([span.attributes for span in spans])


def test_a_chat_answer_is_one_trace_from_the_frame_to_the_worker(
    traced_daphne, receiver, transactional_db, member, emulator_url
):
    frames = asyncio.run(chat_answer(traced_daphne, session_cookie(member), PROMPT))
    done = frames[-1]
    assert done["type"] == "message.done" and done["status"] == "complete", done
    answer = "".join(f["text"] for f in frames if f["type"] == "message.delta")

    def whole_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
        roots = [
            s
            for s in spans
            if s.name == "ws chat.send" and s.attributes.get("enduser.id") == str(member.pk)
        ]
        if not roots:
            return None
        trace = trace_of(spans, roots[0].trace_id)
        names = {s.name for s in trace}
        wanted = {"ws chat.send", f"chat {MODEL}", "gateway.admission", "gateway.route"}
        return trace if wanted | {"POST /v1/chat/completions"} <= names else None

    trace = receiver.wait_for(whole_trace)
    frame = one(trace, "ws chat.send")
    assert frame.parent_id == "" and frame.kind == SERVER
    assert frame.resource["service.name"] == "aiportal-test"
    assert frame.resource["aiportal.process"] == "web"
    # The answer's request, its admission, routing and attempt, in that tree.
    chat = one(trace, f"chat {MODEL}")
    assert chat.parent_id == frame.span_id and chat.kind == CLIENT
    for name in ("gateway.admission", "gateway.route", "POST /v1/chat/completions"):
        assert one(trace, name).parent_id == chat.span_id
    attempt = one(trace, "POST /v1/chat/completions")
    assert attempt.kind == CLIENT and attempt.attributes["aiportal.region"] == "test-a"
    # GenAI conventions: the model, the tokens, the time to the first chunk.
    attributes = chat.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.system"] == "vllm"
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.usage.output_tokens"] == done["usage"]["completion_tokens"] > 0
    assert attributes["gen_ai.usage.input_tokens"] == done["usage"]["prompt_tokens"] > 0
    assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert attributes["aiportal.outcome"] == "complete"
    # The worker was sent the attempt's span as its parent (vLLM continues the trace).
    sent = f"00-{attempt.trace_id}-{attempt.span_id}-"  # then the flags: sampled, random id
    assert any(seen.startswith(sent) for seen in emulator_state(emulator_url)["traceparents"])
    # No message content on any span, by default: neither the question nor the answer.
    recorded = values_of(trace)
    assert "numbats" not in recorded and answer[:30] not in recorded
    assert "gen_ai.input.messages" not in recorded and "gen_ai.output.messages" not in recorded
    # The GenAI conventions' histograms (OTEL_METRICS_EXPORTER=otlp): tokens, time to the
    # first chunk, time per chunk, the request's duration (cumulative, so at least these).
    output_tokens = done["usage"]["completion_tokens"]
    chat_model = {"gen_ai.operation.name": "chat", "gen_ai.response.model": MODEL}

    def measured(_spans: object) -> bool:
        usage = receiver.histogram(
            "gen_ai.client.token.usage", **chat_model, **{"gen_ai.token.type": "output"}
        )
        per_chunk = receiver.histogram("gen_ai.client.operation.time_per_output_chunk")
        return bool(
            usage
            and usage[0].sum >= output_tokens
            and sum(p.count for p in per_chunk) >= output_tokens - 1
            and receiver.histogram("gen_ai.client.operation.time_to_first_chunk", **chat_model)
            and receiver.histogram("gen_ai.client.operation.duration", **chat_model)
        )

    receiver.wait_for(measured)


def test_a_v1_request_is_a_server_span_holding_the_gateway_spans(
    traced_daphne, receiver, transactional_db, member
):
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 5}
    # An integrator's own trace goes on in aiportal: its traceparent is the server span's parent.
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = httpx.post(
        f"{traced_daphne}/v1/chat/completions",
        json=body,
        headers={**bearer(key_for(member)), "traceparent": f"00-{client_trace}-{client_span}-01"},
        timeout=WAIT,
    )
    assert response.status_code == 200, response.text

    def served(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
        for server in (s for s in spans if s.attributes.get("http.route") == "v1/chat/completions"):
            trace = trace_of(spans, server.trace_id)
            if any(s.name == f"chat {MODEL}" for s in trace):
                return trace
        return None

    trace = receiver.wait_for(served)
    server = one(trace, "POST v1/chat/completions")
    assert server.kind == SERVER
    assert (server.trace_id, server.parent_id) == (client_trace, client_span)
    chat = one(trace, f"chat {MODEL}")
    assert chat.parent_id == server.span_id
    assert chat.attributes["gen_ai.usage.output_tokens"] == 5
    assert chat.attributes["aiportal.api_key_id"] > 0
    assert "numbats" not in values_of(trace)
    # Health checks (Daphne's start waited on one) and scrapes are no traces.
    assert not [s for s in receiver.received() if s.attributes.get("http.route") == "healthz"]
