"""The idle-sockets mode of bench/ws_fanout.py: many connected, signed-in, idle chat sockets
on one Daphne process, its resident memory before and after, and whether they stay open (a
``ping``/``pong`` frame round trip on a sample after the wait, and every socket still open).

Each socket is read all along, as a page reads its socket: that is also how the protocol
pings Daphne sends every 20 s get their pong (bench/ws_chat_load.py, ``frames_pump``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.ws_chat_load import frames_pump

# Handshakes in flight at once: each costs the process a session lookup in the database.
HANDSHAKES = 50
PONG_TIMEOUT = 10.0


@dataclass
class Idle:
    asked: int
    opened: int = 0
    open_seconds: float = 0.0
    waited: float = 0.0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    still_open: int = 0
    pinged: int = 0
    pongs: int = 0
    round_trips: list[float] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def per_socket_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / self.opened if self.opened else 0.0


def rss_kib(pid: int) -> int:
    """The process's resident memory (``VmRSS``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_files_limit(pid: int) -> str:
    """The process's soft limit on open files, from /proc (Daphne's, not the bench's)."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return line.split()[3]
    return "?"


def open_files_raise(needed: int) -> tuple[int, int]:
    """Raise this process's soft limit on open files to at least ``needed`` when the hard
    limit allows (the processes the bench starts inherit it: Daphne holds one file per
    socket, and so does the bench). Returns the (soft, hard) limits now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft, hard


async def idle_sockets(
    url: str, headers: dict[str, str], count: int, seconds: float, sample: int, pid: int
) -> Idle:
    """Open ``count`` sockets, hold them idle for ``seconds``, then ping ``sample`` of them,
    spread over the lot (one after another, so that each round trip is the process's, not a
    queue's)."""
    out = Idle(asked=count)
    out.rss_before_kib = rss_kib(pid)
    gate = asyncio.Semaphore(HANDSHAKES)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> aiohttp.ClientWebSocketResponse | None:
            async with gate:
                try:
                    return await session.ws_connect(url, headers=headers, heartbeat=None)
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    out.error_kinds[f"connect: {type(exc).__name__}"] += 1
                    return None

        started = time.perf_counter()
        sockets = [ws for ws in await asyncio.gather(*(one() for _ in range(count))) if ws]
        out.open_seconds = time.perf_counter() - started
        out.opened = len(sockets)
        queues: list[asyncio.Queue[tuple[float, dict[str, Any] | None]]] = [
            asyncio.Queue() for _ in sockets
        ]
        pumps = [
            asyncio.create_task(frames_pump(ws, queue))
            for ws, queue in zip(sockets, queues, strict=True)
        ]
        waited_from = time.perf_counter()
        await asyncio.sleep(seconds)
        out.waited = time.perf_counter() - waited_from
        out.rss_after_kib = rss_kib(pid)
        out.still_open = sum(
            not ws.closed and not pump.done() for ws, pump in zip(sockets, pumps, strict=True)
        )
        step = max(1, len(sockets) // max(1, sample))
        for index in range(0, len(sockets), step)[:sample]:
            out.pinged += 1
            round_trip = await ping(sockets[index], queues[index])
            if round_trip is None:
                out.error_kinds["no pong"] += 1
            else:
                out.pongs += 1
                out.round_trips.append(round_trip)
        for pump in pumps:
            pump.cancel()
        for pump in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        await asyncio.gather(*(ws.close() for ws in sockets))
    return out


async def ping(
    ws: aiohttp.ClientWebSocketResponse, queue: asyncio.Queue[tuple[float, dict[str, Any] | None]]
) -> float | None:
    """One ``ping`` frame and its ``pong``: the round trip in seconds, None without one."""
    if ws.closed:
        return None
    sent = time.perf_counter()
    await ws.send_str(json.dumps({"type": "ping"}))
    try:
        async with asyncio.timeout(PONG_TIMEOUT):
            while True:
                arrived, frame = await queue.get()
                if frame is None:
                    return None
                if frame["type"] == "pong":
                    return arrived - sent
    except TimeoutError:
        return None
