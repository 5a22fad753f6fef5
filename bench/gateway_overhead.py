"""What the gateway costs: the same emulated vLLM workers streamed directly, through Caddy's
``reverse_proxy`` (a compiled proxy with no logic: the floor for a proxy's per-token cost),
through aiportal's ``/v1`` on a real Daphne and through LiteLLM's proxy (when it is
installed), at several concurrency levels.

    .venv/bin/python bench/gateway_overhead.py [--workers 4] [--levels 1,16,64,256]
        [--seconds 6] [--warmup 2] [--targets direct,caddy,core,aiportal,litellm]
        [--litellm /tmp/litellm-venv/bin/litellm] [--caddy /usr/bin/caddy]

Per level and target it prints TTFT p50/p99 and what the proxy adds to them, inter-token
latency p99, aggregate tokens/s and its ratio to direct, the proxy process's CPU seconds per
1000 tokens (utime + stime from /proc/<pid>/stat, children included) and that CPU as a
multiple of Caddy's in the same run (``vs.caddy``): the machine's speed varies, a ratio
measured side by side does much less. Everything runs on
loopback; each client runs requests back to back, ``--warmup`` seconds unmeasured (both
hops' connections opened, caches filled: steady service, not a cold start) and then
``--seconds`` measured (at most ``--max-requests`` each). The load generator's own garbage
collector is off during a level: its pauses would be charged to whichever target runs.
The bench creates its own database (PostgreSQL when ``--database-url`` or DATABASE_URL
points at a server it may create databases on, else SQLite in a temporary directory), a
user with an API key, and drops it all at the end.

The workers answer at a fixed rate with no slowdown under load (``--concurrency-slowdown
0``), so any difference between direct and proxied figures is the proxy's. On a small
machine every process shares the same cores: read the figures at 256 streams as "under CPU
contention", not as the proxy's cost alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODEL = "aiportal-emulator"
READY = re.compile(r"READY (http://\S+)")


@dataclass
class Sample:
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    tokens: int = 0
    errors: int = 0
    wall: float = 0.0
    cpu: float | None = None
    error_kinds: Counter[str] = field(default_factory=Counter)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# --- Processes ------------------------------------------------------------------------------


@functools.cache
def logs_dir() -> Path:
    """Made on first use, not on import (the bench's tests import its report)."""
    return Path(tempfile.mkdtemp(prefix="aiportal-bench-logs-"))


def spawn(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A child in its own session, its output in a log file (a pipe nobody reads would
    block it once full)."""
    log = (logs_dir() / f"{Path(args[0]).name}-{secrets.token_hex(3)}.log").open("w")
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    process.log_path = Path(log.name)  # type: ignore[attr-defined]
    return process


def log_tail(process: subprocess.Popen) -> str:
    return process.log_path.read_text()[-3000:]  # type: ignore[attr-defined]


def ready_url(process: subprocess.Popen, seconds: float = 30) -> str:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        match = READY.search(process.log_path.read_text())  # type: ignore[attr-defined]
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"an emulator did not start:\n{log_tail(process)}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def wait_http(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    import httpx

    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{log_tail(process)}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and every process below it."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier += children
    return sum(times.get(p, 0.0) for p in tree)


def emulators_start(count: int, tokens_per_second: int, answer_tokens: int):
    processes = [
        spawn(
            [
                sys.executable,
                *("-m", "gateway.emulator", "--host", "127.0.0.1", "--port", "0"),
                *("--region", "bench", "--ttft-ms", "20", "--max-concurrency", "1024"),
                *("--tokens-per-second", str(tokens_per_second), "--concurrency-slowdown", "0"),
                *("--answer-tokens", str(answer_tokens), "--kv-cache-blocks", "1000000"),
            ]
        )
        for _ in range(count)
    ]
    urls = [ready_url(process) for process in processes]
    return processes, urls


# --- The portal: database, user, key, Daphne -----------------------------------------------


class Portal:
    def __init__(self, *, workers: list[str], database_url: str | None, redis_url: str | None):
        self.workers = workers
        self.tmp = Path(tempfile.mkdtemp(prefix="aiportal-bench-"))
        self.admin_url = database_url
        self.db_name = f"aiportal_bench_{os.getpid()}"
        self.prefix = f"bench-{secrets.token_hex(4)}"
        self.redis_url = redis_url or ""
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.keep_logs = False

    def database_create(self) -> str:
        if self.admin_url:
            try:
                import psycopg

                # A migrated database to copy, when one is named (the test suite names a copy
                # of its own test database: tests/conftest.py): migrate below then has nothing
                # left to apply, where from nothing it takes several seconds.
                template = os.environ.get("AIPORTAL_BENCH_TEMPLATE_DB", "")
                with psycopg.connect(self.admin_url, autocommit=True) as conn:
                    conn.execute(
                        f'CREATE DATABASE "{self.db_name}"'
                        + (f' TEMPLATE "{template}"' if template else "")
                    )
                parts = urlsplit(self.admin_url)
                return urlunsplit(parts._replace(path=f"/{self.db_name}"))
            except Exception as exc:
                print(f"# PostgreSQL unavailable ({exc!r}); using SQLite", flush=True)
                self.admin_url = None
        return f"sqlite:///{self.tmp / 'bench.sqlite3'}"

    def env(self, database_url: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "REDIS_URL": self.redis_url,
            "AIPORTAL_REDIS_PREFIX": self.prefix,
            "AIPORTAL_DATA_DIR": str(self.tmp),
            "AIPORTAL_WORKERS": ",".join(f"{url}@bench" for url in self.workers),
            "AIPORTAL_USER_MAX_STREAMS": "100000",
            "AIPORTAL_DAILY_TOKEN_BUDGET": "0",
            "AIPORTAL_QUEUE_TIMEOUT_MS": "30000",
            "AIPORTAL_LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "aiportal.settings"),
        }

    def start(self) -> str:
        """Create the database, a user with an API key and admin rows for the workers (with a
        capacity the bench never reaches), then start Daphne. Returns the API key."""
        env = self.env(self.database_create())
        self.environ = env
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        tables = set(connection.introspection.table_names())
        from django.apps import apps

        with connection.schema_editor() as editor:
            for model in apps.get_app_config("gateway").get_models():
                if model._meta.db_table not in tables and not model._meta.auto_created:
                    editor.create_model(model)
        from accounts.services import user_create
        from gateway import apikey_create
        from gateway.models import Worker

        user = user_create(email="bench@example.com", password=secrets.token_urlsafe(16))
        _, token = apikey_create(user=user, name="bench")
        for url in self.workers:
            Worker.objects.create(base_url=url, region="bench", max_concurrency=4096)
        connection.close()
        self.process, self.url = self.daphne_start()
        return token

    def daphne_start(self) -> tuple[subprocess.Popen, str]:
        """A Daphne process on the portal's database, Redis and secret key, as deployed:
        ``start`` runs the first; a bench wanting a second web process (a second replica
        behind the edge) runs another and stops it itself."""
        port = _free_port()
        daphne = [sys.executable, "-m", "aiportal.serve"]
        process = spawn(
            [*daphne, "-b", "127.0.0.1", "-p", str(port), "aiportal.asgi:application"],
            env=self.environ,
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", process)
        return process, url

    def start_core(self, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
        port = _free_port()
        core = spawn([sys.executable, __file__, "--serve-core", str(port)], env=env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", core)
        return core, url

    def close(self) -> None:
        if self.process:
            stop(self.process)
        if self.admin_url:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
            keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.keep_logs:
            print(f"# errors occurred: the processes' logs are kept in {logs_dir()}")
        else:
            shutil.rmtree(logs_dir(), ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The gateway core alone: completion_batches behind a minimal aiohttp server -------------


def serve_core(port: int) -> None:
    """The proxy core (admission, routing, streaming, continuation, accounting) behind the
    thinnest HTTP server there is: what the gateway itself costs, without Django and Daphne.
    Runs in its own process, with the portal's settings, database and Redis."""
    import django
    import orjson

    django.setup()
    from aiohttp import web
    from django.contrib.auth import get_user_model

    from gateway import (
        POLICY_ATTEMPTS,
        GatewayError,
        PoliciesChanging,
        PolicyChanged,
        PolicyCheck,
        caller_for_user,
        completion_batches,
        policies_version,
        policies_version_known,
    )

    user = get_user_model().objects.get(email="bench@example.com")

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        # Admitted as /v1 admits: under the last known access version, confirmed with the
        # stream slot (gateway/api/auth.py).
        version = policies_version_known() or await policies_version()
        for _ in range(POLICY_ATTEMPTS):
            caller = await caller_for_user(user, policy_check=PolicyCheck(version))
            frames = completion_batches(endpoint="chat/completions", body=body, caller=caller)
            try:
                first = await anext(frames)
                break
            except PolicyChanged as changed:
                version = changed.version
            except GatewayError as exc:
                await frames.aclose()
                return web.json_response({"error": {"message": exc.detail}}, status=exc.status)
        else:
            exc = PoliciesChanging()
            return web.json_response({"error": {"message": exc.detail}}, status=exc.status)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        async with contextlib.aclosing(frames):
            # orjson, as /v1 writes its events (gateway/api/views.py): the harness's own
            # encoding is not the gateway's cost.
            await response.write(b"".join(b"data: " + orjson.dumps(f) + b"\n\n" for f in first))
            async for batch in frames:
                await response.write(b"".join(b"data: " + orjson.dumps(f) + b"\n\n" for f in batch))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/healthz", healthz)
    # No access log: Daphne, as the bench runs it, writes none either.
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        print=None,
        handler_cancellation=True,
        access_log=None,
    )


# --- Caddy: a compiled proxy with no logic, the floor for per-token cost --------------------


def caddy_start(binary: str, workers: list[str], tmp: Path) -> tuple[subprocess.Popen, str]:
    """Caddy's ``reverse_proxy`` over the same workers, round robin, flushing every write at
    once (``flush_interval -1``, as a token stream needs), with no admin endpoint, no TLS and
    no access log: only the relay is measured."""
    port = _free_port()
    config = tmp / "Caddyfile"
    config.write_text(
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f"http://127.0.0.1:{port} {{\n"
        f"\treverse_proxy {' '.join(workers)} {{\n"
        "\t\tlb_policy round_robin\n\t\tflush_interval -1\n\t}\n}\n"
    )
    process = spawn([binary, "run", "--config", str(config), "--adapter", "caddyfile"])
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/v1/models", process)
    return process, url


# --- LiteLLM, when it installs ---------------------------------------------------------------


def litellm_start(binary: str, workers: list[str], tmp: Path):
    config = tmp / "litellm.yaml"
    lines = ["model_list:"]
    for url in workers:
        lines += [
            f"  - model_name: {MODEL}",
            "    litellm_params:",
            f"      model: openai/{MODEL}",
            f"      api_base: {url}/v1",
            "      api_key: none",
        ]
    lines += ["litellm_settings:", "  telemetry: false", "  drop_params: true"]
    config.write_text("\n".join(lines) + "\n")
    port = _free_port()
    key = f"sk-bench-{secrets.token_hex(16)}"
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": key,
    }
    env.pop("DATABASE_URL", None)
    process = spawn(
        [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health/liveliness", process, seconds=120)
    return process, url, key


# --- The load -------------------------------------------------------------------------------


async def one_stream(
    session,
    url: str,
    headers: dict[str, str],
    n: int,
    sample: Sample,
    *,
    window: Sample | None = None,
    window_from: float = 0.0,
) -> None:
    """One streamed request: its TTFT, inter-token gaps and errors go to ``sample``; each
    token that arrives from ``window_from`` on is counted in ``window`` (the measured
    window's throughput, whichever request it belongs to)."""
    window = sample if window is None else window
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Request {n}: what does a gateway add?"}],
        "stream": True,
        "max_tokens": 512,
    }
    started = time.perf_counter()
    last = None
    try:
        async with session.post(url, json=body, headers=headers) as response:
            if response.status != 200:
                sample.errors += 1
                sample.error_kinds[f"HTTP {response.status}: {(await response.text())[:80]}"] += 1
                return
            async for line in response.content:
                if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                    continue
                frame = json.loads(line[6:])
                choices = frame.get("choices") or []
                if not choices or not (choices[0].get("delta") or {}).get("content"):
                    continue
                now = time.perf_counter()
                if last is None:
                    sample.ttft.append(now - started)
                else:
                    sample.itl.append(now - last)
                last = now
                if now >= window_from:
                    window.tokens += 1
    except aiohttp.ClientError as exc:
        sample.errors += 1
        sample.error_kinds[type(exc).__name__] += 1


async def run_level(
    targets: list[str],
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    cap: int,
    *,
    warmup: float = 0.0,
    pid: int | None = None,
) -> Sample:
    """``concurrency`` clients streaming back to back: ``warmup`` seconds unmeasured (the
    connections of both hops opened, caches filled, as in steady service), then the measured
    window of ``seconds``. Latencies come from requests started in the window (each client
    starts at least one, however slow the target); throughput counts every token that
    arrived from the window's start to the last client's end; the proxy's CPU is read at
    the same edges."""
    sample, discarded = Sample(), Sample()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        measured_from = time.perf_counter() + warmup
        until = measured_from + seconds
        cpu_before: list[float] = []

        async def window_opens() -> None:
            await asyncio.sleep(max(0.0, measured_from - time.perf_counter()))
            if pid:
                cpu_before.append(cpu_seconds(pid))

        async def client(index: int) -> None:
            url = targets[index % len(targets)]
            n = 0
            while n < cap:  # bounded, whatever the clock says
                now = time.perf_counter()
                if now > until and n:
                    return
                into = sample if now >= measured_from else discarded
                await one_stream(
                    session,
                    url,
                    headers,
                    index * cap * 4 + n,
                    into,
                    window=sample,
                    window_from=measured_from,
                )
                n += into is sample

        await asyncio.gather(window_opens(), *(client(i) for i in range(concurrency)))
        sample.wall = time.perf_counter() - measured_from
        if pid:
            sample.cpu = cpu_seconds(pid) - cpu_before[0]
    return sample


def measure(name, targets, headers, level, args, pid: int | None) -> Sample:
    # The load generator's own collector pauses (it makes cyclic garbage with every
    # response) would be counted against whichever target is running: none during a level.
    gc.collect()
    gc.disable()
    try:
        return asyncio.run(
            run_level(
                targets,
                headers,
                level,
                args.seconds,
                args.max_requests,
                warmup=args.warmup,
                pid=pid,
            )
        )
    finally:
        gc.enable()


def cpu_per_1k_tokens(sample: Sample) -> float | None:
    if sample.cpu is None or not sample.tokens:
        return None
    return sample.cpu / sample.tokens * 1000


def report(level: int, results: dict[str, Sample]) -> None:
    direct = results["direct"]
    direct_rate = direct.tokens / direct.wall if direct.wall else float("nan")
    caddy_cpu = cpu_per_1k_tokens(results["caddy"]) if "caddy" in results else None
    print(f"\n## {level} concurrent streams")
    print(
        f"{'target':<10} {'TTFT p50':>9} {'p99':>8} {'+p50':>7} {'+p99':>7} {'ITL p99':>8} "
        f"{'tok/s':>8} {'ratio':>6} {'CPU s/1k tok':>12} {'vs.caddy':>8} {'errors':>6}"
    )
    for name, s in results.items():
        rate = s.tokens / s.wall if s.wall else float("nan")
        added50 = (pct(s.ttft, 0.5) - pct(direct.ttft, 0.5)) * 1000
        added99 = (pct(s.ttft, 0.99) - pct(direct.ttft, 0.99)) * 1000
        own = cpu_per_1k_tokens(s)
        cpu = f"{own:.3f}" if own is not None else "-"
        times = f"{own / caddy_cpu:.2f}" if own is not None and caddy_cpu else "-"
        if name == "direct":
            added50 = added99 = 0.0
        print(
            f"{name:<10} {pct(s.ttft, 0.5) * 1000:8.1f}m {pct(s.ttft, 0.99) * 1000:7.1f}m "
            f"{added50:6.1f}m {added99:6.1f}m "
            f"{pct(s.itl, 0.99) * 1000:7.1f}m {rate:8.0f} {rate / direct_rate:6.3f} {cpu:>12} "
            f"{times:>8} {s.errors:>6}"
        )
        for kind, count in s.error_kinds.most_common(2):
            print(f"{'':<10} {count} x {kind}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-core", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--levels", default="1,16,64,256")
    parser.add_argument(
        "--targets",
        default="direct,caddy,core,aiportal,litellm",
        help="which of direct, caddy, core, aiportal, litellm to measure (direct always runs)",
    )
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--max-requests", type=int, default=50, help="per client and level")
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds each level runs unmeasured first (0: measure from the cold start)",
    )
    parser.add_argument("--tokens-per-second", type=int, default=50)
    parser.add_argument("--answer-tokens", type=int, default=50)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument(
        "--litellm",
        default=os.environ.get("LITELLM_BIN") or shutil.which("litellm") or "",
        help="the litellm command of a venv with litellm[proxy] (never the project's venv)",
    )
    parser.add_argument(
        "--caddy",
        default=os.environ.get("AIPORTAL_CADDY") or shutil.which("caddy") or "/usr/bin/caddy",
        help="the caddy binary (./dev test installs Debian's for the edge tests)",
    )
    args = parser.parse_args()
    if args.serve_core:
        serve_core(args.serve_core)
        return
    levels = [int(level) for level in args.levels.split(",")]

    emulators, workers = emulators_start(args.workers, args.tokens_per_second, args.answer_tokens)
    admin_url = args.database_url
    if admin_url.startswith("postgres"):
        admin_url = urlunsplit(urlsplit(admin_url)._replace(path="/postgres"))
    portal = Portal(workers=workers, database_url=admin_url or None, redis_url=args.redis_url)
    litellm = core = caddy = None
    # Only what is measured runs: an idle proxy process still probes and takes CPU.
    wanted = {"direct", *args.targets.split(",")}
    try:
        token = portal.start()  # its database serves core too
        targets = {"direct": ([f"{u}/v1/chat/completions" for u in workers], {}, None)}
        if "caddy" in wanted and Path(args.caddy).exists():
            caddy, caddy_url = caddy_start(args.caddy, workers, portal.tmp)
            targets["caddy"] = ([f"{caddy_url}/v1/chat/completions"], {}, caddy.pid)
        elif "caddy" in wanted:
            print(f"# Caddy not run: no caddy at {args.caddy} (--caddy PATH)")
        if "core" in wanted:
            core, core_url = portal.start_core(portal.environ)
            targets["core"] = ([f"{core_url}/v1/chat/completions"], {}, core.pid)
        targets["aiportal"] = (
            [f"{portal.url}/v1/chat/completions"],
            {"Authorization": f"Bearer {token}"},
            portal.process.pid,
        )
        if "litellm" in wanted and args.litellm and Path(args.litellm).exists():
            try:
                litellm, litellm_url, key = litellm_start(args.litellm, workers, portal.tmp)
                targets["litellm"] = (
                    [f"{litellm_url}/v1/chat/completions"],
                    {"Authorization": f"Bearer {key}"},
                    litellm.pid,
                )
            except Exception as exc:
                print(f"# LiteLLM did not start: {exc}")
        elif "litellm" in wanted:
            print("# LiteLLM not run: no litellm command (--litellm PATH or LITELLM_BIN)")
        print(
            f"# {args.workers} emulators at {args.tokens_per_second} tokens/s, "
            f"{args.answer_tokens}-token answers, 20 ms TTFT; {os.cpu_count()} CPUs; "
            f"Redis: {'yes' if args.redis_url else 'no (in-memory)'}; "
            f"database: {'PostgreSQL' if portal.admin_url else 'SQLite'}"
        )
        targets = {name: target for name, target in targets.items() if name in wanted}
        for urls, headers, _ in targets.values():  # warm up: connections, the prober
            asyncio.run(run_level(urls, headers, 4, 0.5, 2))
        for level in levels:
            results = {
                name: measure(name, urls, headers, level, args, pid)
                for name, (urls, headers, pid) in targets.items()
            }
            report(level, results)
            portal.keep_logs |= any(sample.errors for sample in results.values())
        print(
            "\n# TTFT/ITL in ms; +p50/+p99: added to direct's; ratio: tokens/s over direct's; "
            "vs.caddy: CPU per token over Caddy's in this run\n"
            "# targets at 16 and 64 streams: aiportal vs.caddy <= 1.5 and <= 0.15 of LiteLLM's "
            "CPU per token; +p50 <= 5 ms at 16 streams\n"
            "# caddy: reverse_proxy with flush_interval -1 (a compiled proxy, no logic); core: "
            "gateway.proxy.completion_batches behind a bare aiohttp server (the proxy alone); "
            "aiportal: /v1 on Daphne (Django, API keys, usage records included)"
        )
    finally:
        for process in (litellm, core, caddy):
            if process:
                stop(process)
        portal.close()
        for process in emulators:
            stop(process)


if __name__ == "__main__":
    main()
