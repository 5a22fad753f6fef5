"""The two-Daphne mode of bench/ws_fanout.py: N people each ask on web process A, and each
has a second tab open on web process B following the same conversation (``chat.resume`` of
the first answer, then the conversation's group, as a second tab or a reloaded page does:
docs/websocket.md). It measures what B's sockets see: the gaps between an answer's deltas,
how much later than A's socket each delta arrives, and whether any delta is missing (a seq
skipped, or an answer whose final ``seq`` is past the last delta seen).

Each socket connects straight to its process, not through the edge: the edge (Caddy) relays
bytes and plays no part in how a delta crosses from A to B (the channel layer does), and a
load-balanced edge would put a second tab on either process at random, when the point is
that it is on the other one. Caddy would also take CPU from the two Daphnes on a small
machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.gateway_overhead import cpu_seconds
from bench.ws_chat_load import (
    ANSWER_TIMEOUT,
    Conversation,
    Fanout,
    converse,
    frames_pump,
    sockets_open,
)

# After A's last answer ended, how long B may take to show the final frames it still lacks.
FOLLOW_GRACE = 10.0


@dataclass
class Follow:
    """What the second tabs (on B) saw."""

    gaps: list[float] = field(default_factory=list)  # between an answer's deltas, on B
    lags: list[float] = field(default_factory=list)  # B's arrival minus A's, per delta
    arrivals: dict[tuple[int, int], float] = field(default_factory=dict)
    deltas: int = 0
    missing: int = 0  # deltas B never saw (seqs skipped, or short of the final seq)
    seq_gaps: int = 0  # times a delta's seq was past the last one + 1
    answers: int = 0  # answers whose final frame B saw
    # First answers B resumed while they streamed (a snapshot or a delta came before the end),
    # and those whose final frame came first: the resume was served after the answer ended
    # (nothing is lost to the person, the final frame has the whole text, but B did not
    # follow it live). B's own answers, asked after it followed, are never counted here.
    resumed_live: int = 0
    resumed_late: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    cpu: float | None = None

    def error(self, kind: str, count: int = 1) -> None:
        self.errors += count
        self.error_kinds[kind] += count


@dataclass
class Across:
    asker: Fanout
    follower: Follow
    streams: int


async def follow(
    ws: aiohttp.ClientWebSocketResponse,
    conversation: Conversation,
    asked: asyncio.Event,
    out: Follow,
) -> None:
    """B's tab: resume the conversation's first answer, then follow every answer until A
    has asked its last and B has each one's final frame (or ``FOLLOW_GRACE`` passed)."""
    assert conversation.first_answer is not None and conversation.followed is not None
    queue: asyncio.Queue[tuple[float, dict[str, Any] | None]] = asyncio.Queue()
    pump = asyncio.create_task(frames_pump(ws, queue))
    try:
        # The first answer's id, unless A's first question failed (counted on A's side).
        gave_up: asyncio.Future[Any] = asyncio.ensure_future(asked.wait())
        first_answer: asyncio.Future[Any] = conversation.first_answer
        await asyncio.wait(
            {first_answer, gave_up},
            timeout=ANSWER_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
        gave_up.cancel()
        if not conversation.first_answer.done():
            return
        first = conversation.first_answer.result()
        resume = {"type": "chat.resume", "v": 1, "message": first, "after_seq": 0}
        await ws.send_str(json.dumps(resume))
        covered = {first: 0}  # per answer: the highest seq B has (snapshot or delta)
        last: dict[int, float] = {}  # per answer: when its latest delta arrived on B
        ended: set[int] = set()
        live = False  # the first answer: a snapshot or a delta of it came before its end
        deadline = None
        while True:
            if asked.is_set():
                lacking = [a for a in conversation.answers if a not in ended]
                if not lacking:
                    return
                deadline = deadline or time.perf_counter() + FOLLOW_GRACE
                if time.perf_counter() > deadline:
                    out.error("final frame not seen on B", len(lacking))
                    return
            try:
                async with asyncio.timeout(0.25):
                    arrived, frame = await queue.get()
            except TimeoutError:
                continue
            if frame is None:
                out.error("B socket closed")
                return
            if frame.get("message") == first and first not in ended:
                conversation.followed.set()
                if frame["type"] in {"message.snapshot", "message.delta"}:
                    live = True
                elif not live and frame["type"] in {"message.done", "message.error"}:
                    # Resumed after it ended: its deltas were never B's to see.
                    out.resumed_late += 1
                    ended.add(first)
                    out.answers += 1
                    continue
                if not live:
                    continue
                if first not in ended and frame["type"] in {"message.done", "message.error"}:
                    out.resumed_live += 1
            frame_read(frame, arrived, covered, last, ended, out)
    except (aiohttp.ClientError, ConnectionError) as exc:
        out.error(type(exc).__name__)
    finally:
        conversation.followed.set()  # A must not wait on a tab that gave up
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


def frame_read(
    frame: dict[str, Any],
    arrived: float,
    covered: dict[int, int],
    last: dict[int, float],
    ended: set[int],
    out: Follow,
) -> None:
    """One frame on B: snapshots and deltas advance an answer's seq, final frames end it."""
    kind = frame["type"]
    if kind == "message.snapshot":
        covered[frame["message"]] = max(covered.get(frame["message"], 0), frame["seq"])
        last.pop(frame["message"], None)  # a snapshot is no gap between deltas
    elif kind == "message.created" and frame["message"]["role"] == "assistant":
        covered.setdefault(frame["message"]["id"], frame["message"]["last_seq"])
    elif kind == "message.delta":
        answer, seq = frame["message"], frame["seq"]
        have = covered.get(answer, 0)
        if seq <= have:
            return  # already in a snapshot: the page ignores it too
        if seq > have + 1:
            out.seq_gaps += 1
            out.missing += seq - have - 1
        covered[answer] = seq
        out.deltas += 1
        out.arrivals[(answer, seq)] = arrived
        if answer in last:
            out.gaps.append(arrived - last[answer])
        last[answer] = arrived
    elif kind in {"message.done", "message.error"} and frame.get("message") is not None:
        answer = frame["message"]
        if answer in ended:
            return  # the group's final frame and the resume's may both arrive
        final = int(frame.get("seq") or 0)
        if final > covered.get(answer, 0):
            out.missing += final - covered.get(answer, 0)
        ended.add(answer)
        out.answers += 1
    elif kind in {"error", "message.error"}:
        out.error(f"B: {frame.get('code', kind)}")


async def across_level(
    urls: tuple[str, str],
    headers: tuple[dict[str, str], dict[str, str]],
    pids: tuple[int, int],
    streams: int,
    answers: int,
) -> Across:
    """``streams`` people asking ``answers`` questions each on A (however long they take:
    the first answer is the one B resumes, only the later ones does B follow from their
    start), each followed on B; both processes' CPU read from the moment every socket is
    open until B has seen the last answer end."""
    asker, follower = Fanout(), Follow()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        on_a = await sockets_open(session, urls[0], headers[0], streams, asker)
        on_b = await sockets_open(session, urls[1], headers[1], len(on_a), asker)
        pairs = list(zip(on_a, on_b, strict=False))
        cpu_before = (cpu_seconds(pids[0]), cpu_seconds(pids[1]))
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        async def pair(index: int, ws_a: Any, ws_b: Any) -> None:
            conversation = Conversation(first_answer=loop.create_future(), followed=asyncio.Event())
            asked = asyncio.Event()

            async def ask() -> None:
                try:
                    await converse(
                        ws_a,
                        index=index,
                        until=float("inf"),
                        cap=answers,
                        out=asker,
                        conversation=conversation,
                    )
                finally:
                    asked.set()

            await asyncio.gather(ask(), follow(ws_b, conversation, asked, follower))

        await asyncio.gather(*(pair(i, a, b) for i, (a, b) in enumerate(pairs)))
        asker.wall = time.perf_counter() - started
        asker.cpu = cpu_seconds(pids[0]) - cpu_before[0]
        follower.cpu = cpu_seconds(pids[1]) - cpu_before[1]
        await asyncio.gather(*(ws.close() for ws in [*on_a, *on_b]))
    follower.lags = [
        arrived - asker.arrivals[key]
        for key, arrived in follower.arrivals.items()
        if key in asker.arrivals
    ]
    return Across(asker=asker, follower=follower, streams=len(pairs))
