"""The chat side of bench/ws_fanout.py: signed-in sockets on ``ws/chat/``, each a person asking
questions back to back in one conversation of their own, and what they saw (the gaps between
an answer's deltas, the tokens, the errors).

One conversation per socket, as a person converses: a new conversation per question would
make every answer a first answer, and so a conversation row and (with titles on) a title
request each; the bench turns titles off anyway (``AIPORTAL_CHAT_TITLES=false``), a
once-per-conversation cost that is not the delta path's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.gateway_overhead import cpu_seconds

# A bound on one whole answer: receive()'s own timeout restarts at every protocol ping
# Daphne sends, so it never fires on a silent answer.
ANSWER_TIMEOUT = 60.0


@dataclass
class Fanout:
    gaps: list[float] = field(default_factory=list)  # seconds between deltas of one answer
    tokens: int = 0
    deltas: int = 0
    answers: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    cpu: float | None = None
    # When each delta arrived, by (message, seq): the two-Daphne mode compares the second
    # tab's arrival with the first's.
    arrivals: dict[tuple[int, int], float] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] += 1


@dataclass
class Conversation:
    """What one socket's person has made so far: the conversation (once the first send
    created it) and each answer's message id, in order."""

    id: int | None = None
    answers: list[int] = field(default_factory=list)
    # Set by the two-Daphne mode: the first answer's id goes to the second tab, which says
    # when it follows; only then comes the second question (else its first frames could
    # pass before the second tab is in the conversation's group).
    first_answer: asyncio.Future[int] | None = None
    followed: asyncio.Event | None = None


async def sockets_open(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], count: int, out: Fanout
) -> list[aiohttp.ClientWebSocketResponse]:
    """``count`` sockets, all open before any question (handshakes are not per token);
    those that fail are counted as errors."""

    async def one() -> aiohttp.ClientWebSocketResponse | None:
        try:
            return await session.ws_connect(url, headers=headers, heartbeat=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            out.error(f"connect: {type(exc).__name__}")
            return None

    opened = await asyncio.gather(*(one() for _ in range(count)))
    return [ws for ws in opened if ws is not None]


async def converse(
    ws: aiohttp.ClientWebSocketResponse,
    *,
    index: int,
    until: float,
    cap: int,
    out: Fanout,
    conversation: Conversation | None = None,
) -> None:
    """Questions back to back in one conversation until ``until`` (at most ``cap``)."""
    conversation = conversation or Conversation()
    try:
        for n in range(cap):  # bounded, whatever the clock says
            if time.perf_counter() > until:
                return
            frame: dict[str, Any] = {
                "type": "chat.send",
                "v": 1,
                "content": f"Client {index}, question {n}: how does a websocket fan out?",
            }
            if conversation.id is not None:
                frame["conversation"] = conversation.id
            if n == 1 and conversation.followed is not None:
                async with asyncio.timeout(ANSWER_TIMEOUT):
                    await conversation.followed.wait()
            await ws.send_str(json.dumps(frame))
            async with asyncio.timeout(ANSWER_TIMEOUT):
                if not await answer_read(ws, out, conversation):
                    return
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.error(type(exc).__name__)


async def answer_read(
    ws: aiohttp.ClientWebSocketResponse, out: Fanout, conversation: Conversation
) -> bool:
    """The frames of one answer the socket asked for, up to its final frame; False when the
    request itself was refused (the conversation cannot go on)."""
    answer = None
    last = None
    seq = 0
    while True:
        message = await ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise aiohttp.ClientError(f"socket {message.type.name}")
        frame = json.loads(message.data)
        kind = frame["type"]
        if kind == "conversation.created":
            conversation.id = frame["conversation"]["id"]
        elif kind == "message.created" and frame["message"]["role"] == "assistant":
            answer = frame["message"]["id"]
            conversation.answers.append(answer)
            if conversation.first_answer and not conversation.first_answer.done():
                conversation.first_answer.set_result(answer)
        elif kind == "message.delta" and frame["message"] == answer:
            now = time.perf_counter()
            if frame["seq"] != seq + 1:
                # A frame the channel layer dropped (the page would resume; counted here).
                out.error("delta lost")
            seq = frame["seq"]
            out.arrivals[(answer, seq)] = now
            if last is not None:
                out.gaps.append(now - last)
            last = now
            out.deltas += 1
        elif kind in {"message.done", "message.error"} and frame.get("message") == answer:
            if kind == "message.error" or frame["status"] != "complete":
                out.error(frame.get("code") or frame["status"])
            out.tokens += int((frame.get("usage") or {}).get("completion_tokens") or 0)
            out.answers += 1
            return True
        elif kind in {"error", "message.error"}:
            out.error(frame.get("code", kind))
            return False


async def chat_level(
    url: str, headers: dict[str, str], clients: int, seconds: float, cap: int, pid: int
) -> Fanout:
    """``clients`` sockets conversing for ``seconds``; the Daphne's CPU is read from the
    moment every socket is open to the moment the last answer ended."""
    out = Fanout()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = await sockets_open(session, url, headers, clients, out)
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(
            *(converse(ws, index=i, until=until, cap=cap, out=out) for i, ws in enumerate(sockets))
        )
        out.wall = time.perf_counter() - started
        out.cpu = cpu_seconds(pid) - cpu_before
        await asyncio.gather(*(ws.close() for ws in sockets))
    return out


async def frames_pump(
    ws: aiohttp.ClientWebSocketResponse,
    queue: asyncio.Queue[tuple[float, dict[str, Any] | None]],
) -> None:
    """Every text frame of ``ws`` into ``queue`` with the moment it arrived, then ``None``
    once the socket closes. Someone must read a socket all along: aiohttp answers the
    protocol pings Daphne sends (every 20 s) only inside ``receive()``, and Daphne closes a
    socket whose pings go unanswered."""
    while True:
        message = await ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            queue.put_nowait((time.perf_counter(), json.loads(message.data)))
        elif message.type in {
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        }:
            queue.put_nowait((time.perf_counter(), None))
            return
