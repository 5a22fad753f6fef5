"""How many chats one Daphne process streams, and at what cost next to ``/v1``: N concurrent
websocket clients, each a person asking questions back to back in a conversation of their
own through ``ws/chat/`` → the gateway → emulated vLLM workers, and the same N streams through
``/v1/chat/completions`` on the same Daphne, level after level. Run by hand; it prints its
figures and, at the end, how they stand against issue 4/8's targets.

    .venv/bin/python bench/ws_fanout.py [--levels 1,10,30,100] [--seconds 8]
        [--idle 1000] [--idle-seconds 30] [--across 50]
        [--workers 2] [--tokens-per-second 20] [--answer-tokens 60]

Three modes, in this order (``--idle 0``, ``--levels ''``, ``--across 0`` skip one):

- **idle** (bench/ws_idle.py): ``--idle`` connected, signed-in, idle chat sockets on the
  Daphne; its resident memory (VmRSS) before and after, and per socket; after
  ``--idle-seconds`` (longer than Daphne's 20 s protocol ping, so each socket has answered
  one), how many are still open and a ``ping``/``pong`` round trip on a sample of them.
- **levels**: for each N, the emulators streamed directly (their own inter-token latency at
  that concurrency), then ``/v1`` with an API key the bench made, then the chat. Per path:
  delivered tokens/s, ITL p50/p99 and the p99 added to the emulators', tokens per delta, the
  Daphne process's CPU seconds per 1000 tokens (utime + stime from /proc) and, on the chat's
  row, that CPU over ``/v1``'s (``chat/api``); errors.
- **across** (bench/ws_across.py): a second Daphne on the same database and Redis; N people
  ask ``--across-answers`` questions each on A and each has a second tab on B that resumes
  the first answer and follows the conversation from then on: B's ITL p99 and what it adds,
  how long after A's socket each delta reaches B's (``B minus A``: negative when B's
  socket has it first), every delta B missed, and how many first
  answers B's resume caught while they streamed.

CPU windows: ``/v1``'s opens with its first request (a client's connection is opened once
and kept), the chat's once every socket is open (a handshake is per socket, not per token);
both close when the last answer has ended. The load generator's garbage collector is off
during a level, for both paths. Titles are off (``AIPORTAL_CHAT_TITLES=false``): a title is a
request of its own once per conversation, not the delta path.

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
import contextlib
import functools
import gc
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_overhead import (  # noqa: E402  (the path above makes bench importable)
    Portal,
    Sample,
    emulators_start,
    pct,
    run_level,
    stop,
)
from bench.ws_across import Across, across_level  # noqa: E402
from bench.ws_chat_load import Fanout, chat_level  # noqa: E402
from bench.ws_idle import Idle, idle_sockets, open_files_limit, open_files_raise  # noqa: E402

T = TypeVar("T")
# Issue 4/8's targets.
CPU_RATIO_TARGET = 1.5
STREAMS_TARGET = 100
TARGET_TOKENS_PER_SECOND = 20
ACROSS_TARGET = 50


@dataclass
class Level:
    streams: int
    emulator: Sample
    api: Sample
    chat: Fanout

    @property
    def emulator_p99(self) -> float:
        return pct(self.emulator.itl, 0.99)

    @property
    def api_added_ms(self) -> float:
        return (pct(self.api.itl, 0.99) - self.emulator_p99) * 1000

    @property
    def chat_added_ms(self) -> float:
        return (pct(self.chat.gaps, 0.99) - self.emulator_p99) * 1000

    @property
    def ratio(self) -> float | None:
        chat, api = per_1k(self.chat.cpu, self.chat.tokens), per_1k(self.api.cpu, self.api.tokens)
        return chat / api if chat is not None and api else None


def per_1k(cpu: float | None, tokens: int) -> float | None:
    return cpu / tokens * 1000 if cpu is not None and tokens else None


def quiet(coroutine: Coroutine[Any, Any, T]) -> T:
    """A level with the load generator's own collector off: its pauses would be charged to
    whichever path runs."""
    gc.collect()
    gc.disable()
    try:
        return asyncio.run(coroutine)
    finally:
        gc.enable()


def session_cookie() -> str:
    """A signed-in session for the bench's user, in the bench's database (Portal.start set
    the environment and Django up)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(email="bench@example.com"))
    connection.close()
    return str(client.cookies["sessionid"].value)


def ws_target(url: str, cookie: str) -> tuple[str, dict[str, str]]:
    """The chat socket's URL on a Daphne and the headers a signed-in browser sends."""
    return url.replace("http://", "ws://") + "/ws/chat/", {
        "Origin": url,
        "Cookie": f"sessionid={cookie}",
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def figure(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- Levels: /v1 and the chat side by side --------------------------------------------------


def levels_header() -> None:
    print(
        f"\n## levels: /v1 and the chat on one Daphne\n"
        f"{'streams':>7} {'path':<8} {'tok/s':>7} {'ITL p50':>9} {'ITL p99':>9} "
        f"{'added p99':>9} {'tok/delta':>9} {'CPU s/1k tok':>12} {'chat/api':>8} "
        f"{'answers':>7} {'errors':>6}",
        flush=True,
    )


def level_report(level: Level) -> None:
    e, api, chat = level.emulator, level.api, level.chat
    rows = [
        ("emulator", e.tokens / e.wall, e.itl, "-", "-", "-", "-", len(e.ttft), e.errors),
        (
            "api",
            api.tokens / api.wall,
            api.itl,
            f"{level.api_added_ms:.1f}m",
            "-",
            figure(per_1k(api.cpu, api.tokens)),
            "-",
            len(api.ttft),
            api.errors,
        ),
        (
            "chat",
            chat.tokens / chat.wall,
            chat.gaps,
            f"{level.chat_added_ms:.1f}m",
            figure(chat.tokens / chat.deltas if chat.deltas else None, 2),
            figure(per_1k(chat.cpu, chat.tokens)),
            figure(level.ratio, 2),
            chat.answers,
            chat.errors,
        ),
    ]
    for name, rate, itl, added, per_delta, cpu, ratio, answers, errors in rows:
        print(
            f"{level.streams:>7} {name:<8} {rate:7.0f} {pct(itl, 0.5) * 1000:8.1f}m "
            f"{pct(itl, 0.99) * 1000:8.1f}m {added:>9} {per_delta:>9} {cpu:>12} {ratio:>8} "
            f"{answers:>7} {errors:>6}",
            flush=True,
        )
    kinds = [*e.error_kinds.most_common(2), *api.error_kinds.most_common(2)]
    for kind, count in [*kinds, *chat.error_kinds.most_common(3)]:
        print(f"{'':>7} {count} x {kind}", flush=True)


# --- Idle sockets and two Daphnes -----------------------------------------------------------


def idle_report(idle: Idle, pid: int) -> None:
    soft = open_files_limit(os.getpid())
    print(
        f"\n## idle: {idle.asked} signed-in chat sockets on one Daphne "
        f"(open files allowed: bench {soft}, Daphne {open_files_limit(pid)})\n"
        f"   opened                 {idle.opened} of {idle.asked} in {idle.open_seconds:.1f} s\n"
        f"   Daphne RSS             before {idle.rss_before_kib} KiB  "
        f"after {idle.rss_after_kib} KiB  per socket {idle.per_socket_kib:.1f} KiB\n"
        f"   after {idle.waited:.0f} s idle         open {idle.still_open} of {idle.opened}  "
        f"pongs {idle.pongs} of {idle.pinged}  round trip p50 {ms(pct(idle.round_trips, 0.5))} "
        f"p99 {ms(pct(idle.round_trips, 0.99))}",
        flush=True,
    )
    for kind, count in idle.error_kinds.most_common(3):
        print(f"   {count} x {kind}", flush=True)


def across_report(across: Across, emulator: Sample) -> float:
    """Prints the figures; returns B's added ITL p99 in ms."""
    a, b = across.asker, across.follower
    emu_p99 = pct(emulator.itl, 0.99)
    a_p99, b_p99 = pct(a.gaps, 0.99), pct(b.gaps, 0.99)
    print(
        f"\n## two Daphnes: {across.streams} streams asked on A, each followed by a second tab "
        f"on B (sockets straight to each process)\n"
        f"   emulator ITL p99       {ms(emu_p99)}\n"
        f"   A (asking) ITL p99     {ms(a_p99)}  added {ms(a_p99 - emu_p99)}\n"
        f"   B (following) ITL p99  {ms(b_p99)}  added {ms(b_p99 - emu_p99)}\n"
        f"   B minus A, per delta   p50 {ms(pct(b.lags, 0.5))}  p99 {ms(pct(b.lags, 0.99))}\n"
        f"   deltas                 A {a.deltas}  B {b.deltas}  missing on B {b.missing}  "
        f"seq gaps on B {b.seq_gaps}\n"
        f"   answers                A {a.answers}  B {b.answers}  "
        f"first answers resumed live {b.resumed_live}, after their end {b.resumed_late}\n"
        f"   errors                 A {a.errors}  B {b.errors}\n"
        f"   CPU s/1k tok           A {figure(per_1k(a.cpu, a.tokens))}  "
        f"B {figure(per_1k(b.cpu, a.tokens))}",
        flush=True,
    )
    for kind, count in [*a.error_kinds.most_common(3), *b.error_kinds.most_common(3)]:
        print(f"   {count} x {kind}", flush=True)
    return (b_p99 - emu_p99) * 1000


# --- Against the targets ------------------------------------------------------------


def targets_report(
    levels: list[Level],
    idle: Idle | None,
    across: tuple[Across, float] | None,
    *,
    budget_ms: float,
    tokens_per_second: int,
) -> None:
    print("\n## against issue 4/8's targets")
    ratios = [(level.streams, level.ratio) for level in levels if level.ratio is not None]
    if ratios:
        met = all(ratio <= CPU_RATIO_TARGET for _, ratio in ratios)
        figures = ", ".join(f"{ratio:.2f} at {n}" for n, ratio in ratios)
        verdict = f"{'met' if met else 'not met'} (chat/api {figures})"
    else:
        verdict = "not measured (no level ran)"
    print(f"# target: chat CPU per token <= {CPU_RATIO_TARGET:g}x /v1's: {verdict}")

    good = [lv.streams for lv in levels if lv.chat_added_ms < budget_ms and not lv.chat.errors]
    largest = max(good, default=0)
    big = [lv for lv in levels if lv.streams >= STREAMS_TARGET]
    name = (
        f">= {STREAMS_TARGET} chat streams at {TARGET_TOKENS_PER_SECOND} tok/s, "
        f"added ITL p99 < {budget_ms:g} ms, no errors"
    )
    if tokens_per_second != TARGET_TOKENS_PER_SECOND or not big:
        verdict = (
            f"not measured (this run: {tokens_per_second} tok/s, "
            f"{max((lv.streams for lv in levels), default=0)} streams at most; "
            f"largest N meeting the budget {largest or 'none'})"
        )
    else:
        at = big[0]
        verdict = (
            f"{'met' if largest >= STREAMS_TARGET else 'not met'} (largest N meeting it: "
            f"{largest or 'none'}; at {at.streams}: added p99 {at.chat_added_ms:.1f} ms, "
            f"{at.chat.errors} errors)"
        )
    print(f"# target: {name}: {verdict}")

    name = (
        f"second tab on the other Daphne at {ACROSS_TARGET} streams sees every delta, "
        f"added p99 < {budget_ms:g} ms"
    )
    if across is None or across[0].streams < ACROSS_TARGET:
        verdict = "not measured" + (f" (ran {across[0].streams} streams)" if across else "")
        if across:
            b = across[0].follower
            verdict += f": B added p99 {across[1]:.1f} ms, missing {b.missing}, errors {b.errors}"
    else:
        b, added = across[0].follower, across[1]
        errors = b.errors + across[0].asker.errors
        met = added < budget_ms and not b.missing and not b.seq_gaps and not errors
        verdict = (
            f"{'met' if met else 'not met'} (B added p99 {added:.1f} ms, missing {b.missing}, "
            f"seq gaps {b.seq_gaps}, errors {errors})"
        )
    print(f"# target: {name}: {verdict}")
    if idle is not None:
        print(
            f"# reported: {idle.opened} idle sockets: Daphne RSS +{idle.per_socket_kib:.1f} KiB "
            f"per socket ({idle.rss_after_kib - idle.rss_before_kib} KiB in all); "
            f"open after the wait {idle.still_open} of {idle.opened}; "
            f"pongs {idle.pongs} of {idle.pinged}"
        )


# --- The run --------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--levels", default="1,10,30,100", help="'' skips the levels")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--max-requests", type=int, default=20, help="per client and level")
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets (0: none)")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--idle-sample", type=int, default=100, help="sockets pinged")
    parser.add_argument("--across", type=int, default=50, help="streams across two Daphnes")
    parser.add_argument(
        "--across-answers",
        type=int,
        default=3,
        help="answers each person asks across two Daphnes (B resumes the first, follows the rest)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tokens-per-second", type=int, default=20)
    parser.add_argument("--answer-tokens", type=int, default=60)
    parser.add_argument("--budget-ms", type=float, default=50.0)
    parser.add_argument(
        "--py-spy",
        default="",
        help="a py-spy binary: record the Daphne during each level's /v1 and chat runs, as "
        "flame-graph text in bench/logs/ (py-spy's raw format: one stack and its count per line)",
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    return parser.parse_args()


@functools.cache
def profiles_dir() -> Path:
    """Kept after the run, unlike the logs."""
    return Path(tempfile.mkdtemp(prefix="aiportal-bench-profiles-"))


@contextlib.contextmanager
def profiled(py_spy: str, pid: int, name: str) -> Iterator[None]:
    """With ``--py-spy``: sample the Daphne's stacks while the block runs (where its CPU goes,
    path by path). py-spy writes its file when interrupted."""
    if not py_spy:
        yield
        return
    out = profiles_dir() / f"{name}.txt"
    process = subprocess.Popen(
        [
            py_spy,
            "record",
            "-p",
            str(pid),
            "--gil",
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        print(f"# profile of the Daphne during {name}: {out}", flush=True)


def main() -> None:
    args = arguments()
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    # Stopped from outside (timeout, ^C): still stop the processes and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    # One file per socket, in the bench and in the Daphnes it starts (they inherit it).
    open_files_raise(args.idle + 4 * max([*levels, args.across, 0]) + 1024)
    os.environ["AIPORTAL_CHAT_TITLES"] = "false"

    emulators, workers = emulators_start(args.workers, args.tokens_per_second, args.answer_tokens)
    admin_url = args.database_url
    if admin_url.startswith("postgres"):
        admin_url = urlunsplit(urlsplit(admin_url)._replace(path="/postgres"))
    portal = Portal(workers=workers, database_url=admin_url or None, redis_url=args.redis_url)
    second = None
    try:
        token = portal.start()
        assert portal.process is not None
        pid = portal.process.pid
        cookie = session_cookie()
        ws_url, ws_headers = ws_target(portal.url, cookie)
        api_url = [f"{portal.url}/v1/chat/completions"]
        api_headers = {"Authorization": f"Bearer {token}"}
        direct = [f"{url}/v1/chat/completions" for url in workers]
        print(
            f"# {args.workers} emulators at {args.tokens_per_second} tokens/s, "
            f"{args.answer_tokens}-token answers, 20 ms TTFT; {os.cpu_count()} CPUs; "
            f"Redis: {'yes' if args.redis_url else 'no (in-memory channel layer)'}; "
            f"database: {'PostgreSQL' if portal.admin_url else 'SQLite'}; "
            f"{args.seconds:g} s per level; load average at start "
            + " ".join(f"{load:.2f}" for load in os.getloadavg()),
            flush=True,
        )
        # Warm up: the pool's prober, both paths' first requests.
        asyncio.run(chat_level(ws_url, ws_headers, 2, 0.5, 1, pid))
        asyncio.run(run_level(api_url, api_headers, 2, 0.5, 1))

        idle = None
        if args.idle:
            idle = asyncio.run(
                idle_sockets(
                    ws_url, ws_headers, args.idle, args.idle_seconds, args.idle_sample, pid
                )
            )
            idle_report(idle, pid)
            portal.keep_logs |= idle.still_open < idle.asked or idle.pongs < idle.pinged

        results: list[Level] = []
        if levels:
            levels_header()
        for streams in levels:
            emulator = quiet(run_level(direct, {}, streams, args.seconds, args.max_requests))
            with profiled(args.py_spy, pid, f"api-{streams}"):
                api = quiet(
                    run_level(
                        api_url, api_headers, streams, args.seconds, args.max_requests, pid=pid
                    )
                )
            with profiled(args.py_spy, pid, f"chat-{streams}"):
                chat = quiet(
                    chat_level(ws_url, ws_headers, streams, args.seconds, args.max_requests, pid)
                )
            level = Level(streams=streams, emulator=emulator, api=api, chat=chat)
            level_report(level)
            results.append(level)
            portal.keep_logs |= bool(chat.errors or api.errors or emulator.errors)

        across = None
        if args.across and not args.redis_url:
            print(
                "\n## two Daphnes: not run: the in-memory channel layer does not cross "
                "processes (--redis-url)",
                flush=True,
            )
        elif args.across:
            second, second_url = portal.daphne_start()
            b_url, b_headers = ws_target(second_url, cookie)
            asyncio.run(chat_level(b_url, b_headers, 2, 0.5, 1, second.pid))  # warm up
            emulator = quiet(run_level(direct, {}, args.across, args.seconds, args.max_requests))
            result = quiet(
                across_level(
                    (ws_url, b_url),
                    (ws_headers, b_headers),
                    (pid, second.pid),
                    args.across,
                    args.across_answers,
                )
            )
            across = (result, across_report(result, emulator))
            portal.keep_logs |= bool(result.asker.errors or result.follower.errors)

        targets_report(
            results,
            idle,
            across,
            budget_ms=args.budget_ms,
            tokens_per_second=args.tokens_per_second,
        )
        print(
            "# ITL: the gaps between an answer's tokens (emulator, api) or deltas (chat) as the "
            "clients saw them; added p99: over the emulators' own p99 at the same concurrency\n"
            "# load average at the end " + " ".join(f"{load:.2f}" for load in os.getloadavg()),
            flush=True,
        )
    finally:
        if second is not None:
            stop(second)
        portal.close()
        for process in emulators:
            stop(process)


if __name__ == "__main__":
    main()
