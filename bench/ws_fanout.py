"""How many chats one Daphne process streams: N concurrent websocket clients, each asking
questions back to back through ``ws/chat/`` → the gateway → emulated vLLM workers, at rising
N. Run by hand; it prints its figures.

    .venv/bin/python bench/ws_fanout.py [--levels 1,10,50,100,200] [--seconds 8]
        [--workers 2] [--tokens-per-second 20] [--answer-tokens 60]

Per level it prints:
- delivered tokens/s: completion tokens of the answers the clients received, per second;
- the emulator's own inter-token latency p99, measured directly (SSE, the same number of
  concurrent streams, the same settings), and the websocket clients' inter-delta latency
  p99; "added p99" is the difference;
- the Daphne process's CPU seconds per 1000 delivered tokens (utime + stime from /proc);
- errors, and the first kinds seen.
At the end: the largest N whose added p99 stays under 50 ms (``--budget-ms``).

The page's deltas gather the tokens that arrive within 30 ms of the previous delta
(``chat.services.generation.DELTA_INTERVAL``): with workers faster than that (ITL < 30 ms) a delta
carries several tokens and its gaps grow to about 30 ms by design. The default, 20 tokens/s
(50 ms between tokens), keeps one token per delta so that the gaps measure the path. The
bench creates its own database and Redis prefix (like bench/gateway_overhead.py, whose
process helpers it uses) and drops them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_overhead import (  # noqa: E402  (the path above makes bench importable)
    Portal,
    cpu_seconds,
    emulators_start,
    pct,
    run_level,
    stop,
)


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


async def one_client(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    index: int,
    until: float,
    cap: int,
    out: Fanout,
) -> None:
    try:
        async with session.ws_connect(url, headers=headers, heartbeat=None) as ws:
            for n in range(cap):  # bounded, whatever the clock says
                if time.perf_counter() > until:
                    return
                question = f"Client {index}, question {n}: how does a websocket fan out?"
                await ws.send_str(json.dumps({"type": "chat.send", "v": 1, "content": question}))
                # A bound on the whole answer: receive()'s own timeout restarts at every
                # protocol ping Daphne sends, so it never fires on a silent answer.
                async with asyncio.timeout(60):
                    await one_answer(ws, out)
    except (aiohttp.ClientError, TimeoutError) as exc:
        out.errors += 1
        out.error_kinds[type(exc).__name__] += 1


async def one_answer(ws: aiohttp.ClientWebSocketResponse, out: Fanout) -> None:
    answer = None
    last = None
    out_seq = 0
    while True:
        message = await ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise aiohttp.ClientError(f"socket {message.type.name}")
        frame = json.loads(message.data)
        kind = frame["type"]
        if kind == "message.created" and frame["message"]["role"] == "assistant":
            answer = frame["message"]["id"]
        elif kind == "message.delta" and frame["message"] == answer:
            if frame["seq"] != out_seq + 1:
                # A frame the channel layer dropped (the page would resume; counted here).
                out.errors += 1
                out.error_kinds["delta lost"] += 1
            out_seq = frame["seq"]
            now = time.perf_counter()
            if last is not None:
                out.gaps.append(now - last)
            last = now
            out.deltas += 1
        elif kind in {"message.done", "message.error"} and frame.get("message") == answer:
            if kind == "message.error" or frame["status"] != "complete":
                out.errors += 1
                out.error_kinds[frame.get("code") or frame["status"]] += 1
            out.tokens += int((frame.get("usage") or {}).get("completion_tokens") or 0)
            out.answers += 1
            return
        elif kind in {"error", "message.error"}:
            out.errors += 1
            out.error_kinds[frame.get("code", kind)] += 1
            return


async def fanout_level(
    url: str, headers: dict[str, str], clients: int, seconds: float, cap: int
) -> Fanout:
    out = Fanout()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        until = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(one_client(session, url, headers, i, until, cap, out) for i in range(clients))
        )
        out.wall = time.perf_counter() - started
    return out


def session_cookie() -> str:
    """A signed-in session for the bench's user, in the bench's database (Portal.start set
    the environment and Django up)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(email="bench@example.com"))
    connection.close()
    return client.cookies["sessionid"].value


def report_header() -> None:
    print(
        f"{'clients':>7} {'tok/s':>8} {'emu p50':>8} {'ws p50':>8} "
        f"{'emu ITL p99':>11} {'ws ITL p99':>10} "
        f"{'added p99':>9} {'tok/delta':>9} {'CPU s/1k tok':>12} {'answers':>7} {'errors':>6}"
    )


def report_level(clients: int, ws: Fanout, emulator_itl: list[float]) -> float:
    rate = ws.tokens / ws.wall if ws.wall else float("nan")
    emulator_itl_p99 = pct(emulator_itl, 0.99)
    ws_p99 = pct(ws.gaps, 0.99)
    added = (ws_p99 - emulator_itl_p99) * 1000
    per_delta = ws.tokens / ws.deltas if ws.deltas else float("nan")
    cpu = f"{ws.cpu / ws.tokens * 1000:.3f}" if ws.cpu is not None and ws.tokens else "-"
    print(
        f"{clients:>7} {rate:8.0f} {pct(emulator_itl, 0.5) * 1000:7.1f}m "
        f"{pct(ws.gaps, 0.5) * 1000:7.1f}m "
        f"{emulator_itl_p99 * 1000:10.1f}m {ws_p99 * 1000:9.1f}m "
        f"{added:8.1f}m {per_delta:9.2f} {cpu:>12} {ws.answers:>7} {ws.errors:>6}",
        flush=True,
    )
    for kind, count in ws.error_kinds.most_common(3):
        print(f"{'':>7} {count} x {kind}", flush=True)
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,10,50,100,200")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--max-requests", type=int, default=20, help="per client and level")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tokens-per-second", type=int, default=20)
    parser.add_argument("--answer-tokens", type=int, default=60)
    parser.add_argument("--budget-ms", type=float, default=50.0)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    # Stopped from outside (timeout, ^C): still stop the processes and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    emulators, workers = emulators_start(args.workers, args.tokens_per_second, args.answer_tokens)
    admin_url = args.database_url
    if admin_url.startswith("postgres"):
        admin_url = urlunsplit(urlsplit(admin_url)._replace(path="/postgres"))
    portal = Portal(workers=workers, database_url=admin_url or None, redis_url=args.redis_url)
    try:
        portal.start()
        cookie = session_cookie()
        ws_url = portal.url.replace("http://", "ws://") + "/ws/chat/"
        headers = {"Origin": portal.url, "Cookie": f"sessionid={cookie}"}
        direct = [f"{url}/v1/chat/completions" for url in workers]
        print(
            f"# {args.workers} emulators at {args.tokens_per_second} tokens/s, "
            f"{args.answer_tokens}-token answers, 20 ms TTFT; {os.cpu_count()} CPUs; "
            f"Redis: {'yes' if args.redis_url else 'no (in-memory channel layer)'}; "
            f"database: {'PostgreSQL' if portal.admin_url else 'SQLite'}; "
            f"{args.seconds:g} s per level"
        )
        asyncio.run(fanout_level(ws_url, headers, 2, 0.5, 1))  # warm up: the pool's prober
        report_header()
        best = 0
        for level in levels:
            emulator = asyncio.run(run_level(direct, {}, level, args.seconds, args.max_requests))
            before = cpu_seconds(portal.process.pid)
            ws = asyncio.run(fanout_level(ws_url, headers, level, args.seconds, args.max_requests))
            ws.cpu = cpu_seconds(portal.process.pid) - before
            added = report_level(level, ws, emulator.itl)
            portal.keep_logs |= bool(ws.errors or emulator.errors)
            if added < args.budget_ms and not ws.errors:
                best = max(best, level)
        print(
            f"# largest N with added ITL p99 < {args.budget_ms:g} ms and no errors: "
            f"{best or 'none'} (of the levels run)\n"
            "# ITL in ms; ws ITL: gaps between an answer's deltas as the clients saw them; "
            "emu ITL: the emulators' own, streamed directly at the same concurrency",
            flush=True,
        )
    finally:
        portal.close()
        for process in emulators:
            stop(process)


if __name__ == "__main__":
    main()
