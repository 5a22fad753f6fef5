"""A soak: hundreds of chat sessions at once, for minutes, through the edge (Caddy, when it is
installed) to several Daphne processes → the gateway → emulated vLLM workers. Run by hand; it
prints its figures, and exits 1 when a goal was missed (a 5xx, a lost message).

    .venv/bin/python bench/soak.py [--minutes 10] [--sessions 300] [--webs 2] [--workers 2]
        [--think 10:30] [--reloads 0.2] [--edge | --no-edge] [--keep-logs]

Each session is one signed-in person: it opens the chat page, connects its websocket, and
then, until the time is up, asks a question in its own conversation, reads the answer to its
``message.done``, sometimes reloads the conversation's page, and thinks for a while (a random
time in ``--think`` seconds) before the next question. Sessions start spread over the first
think time, so the load ramps up instead of arriving at once.

It prints:
- answers asked and completed, and per minute; websocket reconnects;
- HTTP statuses seen (pages and websocket handshakes), and the 5xx count (the goal: 0);
- lost messages (the goal: 0): a question sent without exactly one persisted question row
  and one persisted ``complete`` answer equal to the text the client was given, checked in
  the database once every stream has ended;
- TTFT (send → first delta) and whole-answer (send → ``message.done``) p50/p95/p99;
- the resident memory (VmRSS from /proc) of every web process at the start (after a warm-up)
  and at the end, and its peak over the run;
- the load average at the start and end (the machine may be shared).

Processes: the emulators, a private ``redis-server`` on a free port (unless ``--redis-url``),
a database of its own on the PostgreSQL of ``--database-url``/DATABASE_URL (else SQLite: one
web process only), ``--webs`` Daphnes sharing them, and Caddy in front when ``--edge`` (the
default when ``caddy`` is on the PATH). Everything is stopped and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_overhead import (  # noqa: E402  (the path above makes bench importable)
    Portal,
    emulators_start,
    logs_dir,
    pct,
    spawn,
    stop,
)

ANSWER_BOUND = 120  # seconds: an answer not done by then counts as failed (never a sleep)


@dataclass
class Asked:
    """One question as its session saw it."""

    question: str
    answer: int | None = None
    conversation: int | None = None
    content: str | None = None  # the text of its message.done
    status: str = ""
    ttft: float | None = None
    total: float | None = None


@dataclass
class Soak:
    asked: list[Asked] = field(default_factory=list)
    http: Counter[str] = field(default_factory=Counter)  # "200", "ws 101", "ws 502", ...
    errors: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.http.items() if status.split()[-1].startswith("5"))


# --- Processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_start() -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: pass --redis-url")
    port = free_port()
    process = spawn(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    )
    until = time.monotonic() + 10
    while time.monotonic() < until:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    raise SystemExit("the private redis-server did not start")


def edge_start(upstreams: list[str]):
    """The deployment's own edge, compose/Caddyfile run by Debian's Caddy in front of the web
    processes (tests/deploy/edge.py starts it the same way for the edge tests)."""
    from tests.deploy.edge import caddy_path
    from tests.deploy.edge import edge_start as start_edge

    edge = start_edge(*upstreams)
    version = subprocess.run(
        [caddy_path(), "version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return edge, edge.url, f"compose/Caddyfile on Caddy {version[0] if version else '?'}"


def static_ready() -> None:
    """The pages use hashed static names (a manifest), which ``./dev`` collects before it
    serves; run by hand, collect into a scratch folder when there is none."""
    root = Path(os.environ.get("AIPORTAL_STATIC_ROOT", ROOT / "staticfiles"))
    if (root / "staticfiles.json").exists():
        return
    os.environ["AIPORTAL_STATIC_ROOT"] = str(logs_dir() / "static")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "false"},
        check=True,
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- People ---------------------------------------------------------------------------------


def session_cookies(count: int) -> list[str]:
    """One signed-in person per session, in the soak's database (Portal.start set the
    environment and Django up). Unusable passwords: nobody signs in by form here."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.test import Client

    User = get_user_model()
    unusable = make_password(None)
    users = User.objects.bulk_create(
        [
            User(username=f"soak{i}@example.com", email=f"soak{i}@example.com", password=unusable)
            for i in range(count)
        ]
    )
    cookies = []
    for user in users:
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)
    connection.close()
    return cookies


# --- One session ----------------------------------------------------------------------------


async def page_get(http: aiohttp.ClientSession, url: str, out: Soak) -> None:
    try:
        async with http.get(url, allow_redirects=False) as response:
            await response.read()
            out.http[str(response.status)] += 1
    except aiohttp.ClientError as exc:
        out.errors[f"page {type(exc).__name__}"] += 1


class Socket:
    """A websocket that is read all the time, as a browser's is: aiohttp answers Daphne's
    protocol pings only while something reads, and Daphne closes a socket whose pings go
    unanswered (30 s), so a session thinking between questions must still read."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict | None] = asyncio.Queue()
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for message in self.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.frames.put_nowait(json.loads(message.data))
        finally:
            self.frames.put_nowait(None)  # closed

    async def send(self, frame: dict) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def next(self) -> dict:
        frame = await self.frames.get()
        if frame is None:
            self.frames.put_nowait(None)
            raise ConnectionError(f"socket closed ({self.ws.close_code})")
        return frame

    async def close(self) -> None:
        await self.ws.close()
        self.pump.cancel()


async def ws_connect(
    http: aiohttp.ClientSession, url: str, origin: str, out: Soak
) -> Socket | None:
    try:
        ws = await http.ws_connect(url, headers={"Origin": origin}, heartbeat=None)
    except aiohttp.WSServerHandshakeError as exc:
        out.http[f"ws {exc.status}"] += 1
        return None
    except aiohttp.ClientError as exc:
        out.errors[f"ws {type(exc).__name__}"] += 1
        return None
    out.http["ws 101"] += 1
    return Socket(ws)


async def answer_read(socket: Socket, asked: Asked, client_id: str) -> None:
    """Read frames until this question's answer ends; raises ConnectionError if the socket
    closes first (the caller reconnects and resumes)."""
    sent = time.perf_counter()
    while True:
        frame = await socket.next()
        kind = frame["type"]
        if kind == "message.created" and frame["message"]["role"] == "assistant":
            if frame.get("client_id") == client_id:
                asked.answer = frame["message"]["id"]
                asked.conversation = frame["message"]["conversation"]
        elif kind == "message.delta" and frame["message"] == asked.answer:
            if asked.ttft is None:
                asked.ttft = time.perf_counter() - sent
        elif kind in {"message.done", "message.error"} and frame.get("message") == asked.answer:
            asked.status = frame.get("status", kind)
            asked.content = frame.get("content")
            asked.total = time.perf_counter() - sent
            return
        elif kind == "error" or (kind == "message.error" and frame.get("message") is None):
            asked.status = frame.get("code", kind)
            return


async def resume_read(socket: Socket, asked: Asked) -> None:
    """After a reconnect: what a page does (docs/websocket.md), resume from seq 0 and read to
    the end; the final frame's content is authoritative."""
    await socket.send({"type": "chat.resume", "message": asked.answer, "after_seq": 0})
    while True:
        frame = await socket.next()
        if frame["type"] in {"message.done", "message.error"} and frame.get("message") == (
            asked.answer
        ):
            asked.status = frame.get("status", frame["type"])
            asked.content = frame.get("content")
            return


async def one_session(
    index: int,
    *,
    base: str,
    cookie: str,
    until: float,
    think: tuple[float, float],
    run: str,
    out: Soak,
    reloads: float = 0.2,
) -> None:
    rng = random.Random(f"{run}-{index}")
    ws_url = base.replace("http://", "ws://") + "/ws/chat/"
    jar = aiohttp.CookieJar(unsafe=True)
    jar.update_cookies({"sessionid": cookie}, response_url=URL(base))
    connector = aiohttp.TCPConnector(limit=4)
    async with aiohttp.ClientSession(cookie_jar=jar, connector=connector) as http:
        await asyncio.sleep(rng.uniform(0, think[1]))  # a ramp, not a stampede
        await page_get(http, f"{base}/", out)
        socket = await ws_connect(http, ws_url, base, out)
        conversation = parent = None
        n = 0
        try:
            while socket is not None and time.perf_counter() < until:
                n += 1
                client_id = f"s{index}m{n}"
                asked = Asked(question=f"Soak {run}, session {index}, question {n}: tell me more.")
                out.asked.append(asked)
                frame = {"type": "chat.send", "content": asked.question, "client_id": client_id}
                if conversation is not None:
                    frame |= {"conversation": conversation, "parent": parent}
                try:
                    await socket.send(frame)
                    async with asyncio.timeout(ANSWER_BOUND):
                        await answer_read(socket, asked, client_id)
                except (ConnectionError, aiohttp.ClientError) as exc:
                    out.errors[f"socket lost: {exc}"[:60]] += 1
                    out.reconnects += 1
                    await socket.close()
                    socket = await ws_connect(http, ws_url, base, out)
                    if socket is None or asked.answer is None:
                        break
                    async with asyncio.timeout(ANSWER_BOUND):
                        await resume_read(socket, asked)
                except TimeoutError:
                    out.errors["answer not done in time"] += 1
                    break
                if asked.answer is None:
                    out.errors[f"refused: {asked.status}"] += 1
                    break
                parent, conversation = asked.answer, asked.conversation
                if rng.random() < reloads:  # a reload now and then: the page, from the database
                    await page_get(http, f"{base}/c/{conversation}/", out)
                await asyncio.sleep(rng.uniform(*think))
        finally:
            if socket is not None:
                await socket.close()


# --- After the run: the database is the judge -----------------------------------------------


def lost_messages(asked: list[Asked], *, settle: float = 30) -> tuple[int, Counter[str]]:
    """Questions without exactly one saved question and one complete saved answer equal to
    what the client was given. Waits (bounded) for streams still saving their end."""
    from django.db import connection

    from chat.models import Message

    deadline = time.monotonic() + settle
    while Message.objects.filter(status="streaming").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    questions = Counter(
        Message.objects.filter(role="user", content__startswith="Soak ").values_list(
            "content", flat=True
        )
    )
    answers = {
        m.parent.content if m.parent else "": m
        for m in Message.objects.filter(role="assistant").select_related("parent")
    }
    reasons: Counter[str] = Counter()
    for one in asked:
        saved = answers.get(one.question)
        if questions[one.question] != 1:
            reasons[f"question saved {questions[one.question]} times"] += 1
        elif saved is None:
            reasons["no answer row"] += 1
        elif saved.status != "complete":
            reasons[f"answer {saved.status}"] += 1
        elif one.content is not None and saved.content != one.content:
            reasons["saved text differs from the delivered text"] += 1
    connection.close()
    return sum(reasons.values()), reasons


# --- Main -----------------------------------------------------------------------------------


def think_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    return float(low), float(high or low)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--webs", type=int, default=2, help="Daphne processes")
    parser.add_argument("--workers", type=int, default=2, help="emulated vLLM workers")
    parser.add_argument("--tokens-per-second", type=int, default=20)
    parser.add_argument("--answer-tokens", type=int, default=60)
    parser.add_argument("--think", default="10:30", help="seconds between questions, low:high")
    parser.add_argument("--edge", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default="", help="default: a private redis-server")
    parser.add_argument(
        "--reloads", type=float, default=0.2, help="chance of a page reload after an answer"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    think = think_range(args.think)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started: list[subprocess.Popen] = []
    edge = None  # the Caddy edge, when one runs
    static_ready()
    emulators, workers = emulators_start(args.workers, args.tokens_per_second, args.answer_tokens)
    started += emulators
    redis_url = args.redis_url
    redis_process = None
    if not redis_url:
        redis_process, redis_url = redis_start()
    admin_url = args.database_url
    if admin_url.startswith("postgres"):
        admin_url = urlunsplit(urlsplit(admin_url)._replace(path="/postgres"))
    portal = Portal(workers=workers, database_url=admin_url or None, redis_url=redis_url)
    webs: list[subprocess.Popen] = []
    failed = True
    try:
        portal.start()
        assert portal.process is not None
        webs.append(portal.process)
        upstreams = [portal.url]
        webs_wanted = args.webs if portal.admin_url else 1  # SQLite: one writer process
        for _ in range(webs_wanted - 1):
            process, url = portal.daphne_start()
            webs.append(process)
            upstreams.append(url)
        caddy = os.environ.get("AIPORTAL_CADDY", "/usr/bin/caddy")
        have_caddy = Path(caddy).exists()
        use_edge = args.edge if args.edge is not None else have_caddy
        edge_note = "not used (--no-edge)" if args.edge is False else "not used (no caddy)"
        if use_edge and have_caddy:
            edge, edge_url, edge_note = edge_start(upstreams)
            bases = [edge_url]
        else:
            # Without an edge, the sessions are spread over the web processes directly.
            bases = upstreams
        cookies = session_cookies(args.sessions)
        run = secrets.token_hex(3)
        print(
            f"# soak {run}: {args.sessions} sessions for {args.minutes:g} min, think "
            f"{think[0]:g}-{think[1]:g} s; {len(webs)} Daphne(s), {args.workers} emulators at "
            f"{args.tokens_per_second} tokens/s, {args.answer_tokens}-token answers; "
            f"database: {'PostgreSQL' if portal.admin_url else 'SQLite'}; edge: {edge_note}; "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        out = Soak()
        # Warm-up (the pool's first probe, imports, connection pools), then the start RSS.
        warm = time.perf_counter() + 1
        asyncio.run(
            one_session(
                -1, base=bases[0], cookie=cookies[0], until=warm, think=(0, 0), run=run, out=Soak()
            )
        )
        rss_start = [rss_mb(p.pid) for p in webs]
        rss_peak = list(rss_start)
        load_start = os.getloadavg()
        began = time.perf_counter()
        until = began + args.minutes * 60

        async def sample_rss() -> None:
            while True:
                await asyncio.sleep(5)
                for i, process in enumerate(webs):
                    with contextlib.suppress(OSError):
                        rss_peak[i] = max(rss_peak[i], rss_mb(process.pid))

        async def everyone() -> None:
            sampler = asyncio.create_task(sample_rss())
            try:
                await asyncio.gather(
                    *(
                        one_session(
                            i,
                            base=bases[i % len(bases)],
                            cookie=cookie,
                            until=until,
                            think=think,
                            run=run,
                            out=out,
                            reloads=args.reloads,
                        )
                        for i, cookie in enumerate(cookies)
                    )
                )
            finally:
                sampler.cancel()

        asyncio.run(everyone())
        wall = time.perf_counter() - began
        rss_end = [rss_mb(p.pid) for p in webs]
        rss_peak = [max(peak, end) for peak, end in zip(rss_peak, rss_end, strict=True)]
        load_end = os.getloadavg()
        lost, reasons = lost_messages(out.asked)
        report(out, wall, lost, reasons, rss_start, rss_end, rss_peak, load_start, load_end)
        failed = bool(out.server_errors or lost)
        portal.keep_logs |= failed or args.keep_logs
    finally:
        # The web processes before the database and Redis keys they use go (portal.close),
        # Redis last.
        if edge is not None:
            edge.stop()
        for process in [*webs[1:], *started]:
            if process is not redis_process:
                stop(process)
        portal.close()
        if redis_process is not None:
            stop(redis_process)
    return 1 if failed else 0


def report(out, wall, lost, reasons, rss_start, rss_end, rss_peak, load_start, load_end) -> None:
    done = [a for a in out.asked if a.status == "complete"]
    ttft = [a.ttft for a in done if a.ttft is not None]
    total = [a.total for a in done if a.total is not None]

    def ms(values: list[float]) -> str:
        return " / ".join(f"{pct(values, q) * 1000:.0f}" for q in (0.5, 0.95, 0.99))

    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(out.http.items()))
    print(f"duration: {wall:.0f} s", flush=True)
    print(f"questions asked: {len(out.asked)}")
    print(f"answers complete: {len(done)} ({len(done) / wall * 60:.0f} per minute)")
    print(f"reconnects: {out.reconnects}")
    print(f"http statuses: {statuses}")
    print(f"5xx: {out.server_errors}")
    print(f"lost messages: {lost}")
    for reason, n in reasons.most_common(5):
        print(f"  {n} x {reason}")
    for kind, n in out.errors.most_common(5):
        print(f"client error: {n} x {kind}")
    print(f"TTFT ms p50/p95/p99: {ms(ttft)}")
    print(f"answer ms p50/p95/p99: {ms(total)}")
    for i, (start, end, peak) in enumerate(zip(rss_start, rss_end, rss_peak, strict=True)):
        print(f"web {i} RSS MB start/end/peak: {start:.0f} / {end:.0f} / {peak:.0f}")
    print(
        "load average (1 min) start/end: "
        f"{load_start[0]:.2f} / {load_end[0]:.2f} (5 min at the end: {load_end[1]:.2f})",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
