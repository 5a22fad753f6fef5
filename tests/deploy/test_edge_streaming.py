"""compose/Caddyfile in front of a real Daphne: a chat websocket and an SSE stream go through
unbuffered, and the portal's internal endpoints stay unreachable from outside.

The worker behind Daphne stalls every answer after a few tokens and never finishes it, so a
token that reaches the client can only have come through while the answer was still being
generated: a buffering proxy would hold it until an end that never comes."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import httpx
import pytest
from django.test import Client

from tests.deploy.conftest import TOKENS_BEFORE_STALL
from tests.deploy.edge import Edge
from tests.gateway.api_support import bearer, emulator_state, key_for, wait_until

WAIT = 15  # seconds: an upper bound for one event, never a sleep


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def chat_through_the_edge(edge: Edge, cookie: str) -> tuple[list[dict], list[dict]]:
    """Send one message over the edge's websocket; return the frames up to the first token,
    then stop the answer and return every frame up to its end."""
    ws_url = edge.url.replace("http://", "ws://") + "/ws/chat/"
    frames: list[dict] = []

    async def until(predicate) -> dict:
        async with asyncio.timeout(WAIT):
            while True:
                frame = json.loads(await socket.receive_str())
                frames.append(frame)
                if predicate(frame):
                    return frame

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            ws_url, headers={"Origin": edge.url, "Cookie": f"sessionid={cookie}"}
        ) as socket,
    ):
        await socket.send_str(
            json.dumps(
                {"type": "chat.send", "conversation": None, "content": "Hi", "client_id": "e"}
            )
        )
        delta = await until(lambda f: f["type"] == "message.delta")
        first_token_at = len(frames)
        await socket.send_str(json.dumps({"type": "chat.stop", "message": delta["message"]}))
        await until(lambda f: f["type"] in {"message.done", "message.error"})
    return frames[:first_token_at], frames


def test_a_chat_answer_streams_through_the_edge_websocket(stack, transactional_db, member):
    before, frames = asyncio.run(chat_through_the_edge(stack.edge, session_cookie(member)))
    # The first token arrived while the answer was unfinished: nothing ended it before.
    assert before[-1]["type"] == "message.delta" and before[-1]["text"]
    assert not any(f["type"] in {"message.done", "message.error"} for f in before)
    # It ended only when the client stopped it, through the same socket.
    assert frames[-1]["type"] == "message.done" and frames[-1]["status"] == "stopped"


def test_an_sse_stream_reaches_the_client_token_by_token(stack, transactional_db, member):
    from tests.gateway.api_support import usage_settled

    body = {
        "model": "aiportal-emulator",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    # An answer an earlier test stopped may still be leaving the worker.
    idle = wait_until(
        lambda: (state := emulator_state(stack.emulator_url))["running"] == 0 and state,
        timeout=WAIT,
        what="the worker to be idle",
    )
    aborted_before = idle["aborted"]
    tokens: list[str] = []
    with httpx.stream(
        "POST",
        f"{stack.edge.url}/v1/chat/completions",
        json=body,
        headers=bearer(key_for(member)),
        timeout=WAIT,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-content-type-options"] == "nosniff"  # the edge's headers
        # Held in a name: an abandoned line iterator would close the response at once.
        lines = response.iter_lines()
        for line in lines:
            assert line != "data: [DONE]"
            if line.startswith("data: "):
                choices = json.loads(line.removeprefix("data: ")).get("choices") or [{}]
                if text := choices[0].get("delta", {}).get("content"):
                    tokens.append(text)
            if len(tokens) == TOKENS_BEFORE_STALL:
                break
        # Every token the worker has sent is here, and its answer is still running.
        state = emulator_state(stack.emulator_url)
        assert state["running"] == 1 and state["aborted"] == aborted_before
    # Leaving closes the stream all the way to the worker, which aborts the answer.
    wait_until(
        lambda: emulator_state(stack.emulator_url)["aborted"] > aborted_before,
        timeout=WAIT,
        what="the worker to see the client leave",
    )
    usage_settled(member, 1)


@pytest.mark.parametrize("path", ["/metrics", "/healthz"])
def test_the_portals_internal_endpoints_answer_inside_but_not_through_the_edge(stack, path):
    assert httpx.get(f"{stack.daphne_url}{path}").status_code == 200
    assert httpx.get(f"{stack.edge.url}{path}").status_code == 404


def test_pages_come_through_with_the_applications_own_headers(stack):
    response = httpx.get(f"{stack.edge.url}/accounts/login/")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["strict-transport-security"].startswith("max-age=")
