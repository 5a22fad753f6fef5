"""Fixtures for the fault tests: real processes (emulated vLLM workers, Daphnes, a private
redis-server, a Celery worker) that a test kills or restarts, and a websocket client that
talks to a real Daphne over TCP, as a browser does."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connections
from django.test import Client

from tests.conftest import Process, _database_url, free_port, start_daphne, start_emulator

# The dataset tests' real Celery worker and their dataset and upload fixtures (its
# datasets_dir is autouse: every test here gets a scratch uploads folder, used or not).
from tests.datasets.conftest import celery_worker, dataset, datasets_dir, upload  # noqa: F401

WAIT = 15  # seconds: an upper bound for one event, never a sleep


@pytest.fixture
async def async_orm_closed():
    """The async ORM's thread keeps its connection open after the test: close it, or the
    test database cannot be dropped at the end of the session."""
    yield
    await sync_to_async(connections.close_all)()


def stop_all(processes: list[Process]) -> None:
    """SIGTERM to every one at once, then wait: a Daphne takes seconds to shut down, and
    several in a row would add them up."""
    for process in processes:
        if process.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGTERM)
    for process in processes:
        process.stop()  # waits; SIGKILL if it is still there after 10 s


def kill_now(process: Process) -> None:
    """SIGKILL to the whole process group: no goodbye, as in a crash or an OOM kill."""
    os.killpg(process.popen.pid, signal.SIGKILL)
    process.popen.wait(10)


# --- Processes --------------------------------------------------------------------------------


@pytest.fixture
def emulators() -> Iterator[Callable[..., tuple[Process, str]]]:
    """``emulators(*flags, region=...)`` starts an emulated worker of this test's own."""
    started: list[Process] = []

    def start(*flags: str, region: str = "faults") -> tuple[Process, str]:
        process, url = start_emulator(*flags, region=region)
        started.append(process)
        return process, url

    yield start
    stop_all(started)


@pytest.fixture
def daphnes(django_db_blocker) -> Iterator[Callable[..., tuple[Process, str]]]:
    """``daphnes(workers=[url or url@region, ...], **env)`` starts a Daphne of this test's own
    against the test database, with the given workers and environment on top."""
    started: list[Process] = []
    with django_db_blocker.unblock():
        database_url = _database_url()
    # The test's web processes share a Redis prefix of their own: nothing they elect, count
    # or publish meets the session's other Daphnes.
    prefix = f"{os.environ.get('AIPORTAL_REDIS_PREFIX', 'aiportal')}-faults-{secrets.token_hex(3)}"

    def start(*, workers: list[str], **env: str) -> tuple[Process, str]:
        process, url = start_daphne(
            {
                "DATABASE_URL": database_url,
                "AIPORTAL_REDIS_PREFIX": prefix,
                "AIPORTAL_WORKERS": ",".join(w if "@" in w else f"{w}@faults" for w in workers),
                "AIPORTAL_SAVE_INTERVAL_MS": "100",
                "AIPORTAL_CHAT_TITLES": "false",
                **env,
            }
        )
        started.append(process)
        return process, url

    yield start
    for process in started:
        process.stop()


PERSIST_NOTHING = ("--save", "", "--appendonly", "no")


class RedisServer:
    """A ``redis-server`` of the test's own on a free port (never the machine's one), which a
    test may kill and start again on the same port: an empty Redis, as after a restart of
    one that keeps nothing on disk."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run the tests with ./dev test")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: Process | None = None
        self.start()

    def start(self) -> None:
        self.process = Process(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *PERSIST_NOTHING]
        )
        self.process.wait_for_line(re.compile(r"Ready to accept connections"), timeout=WAIT)

    def kill(self) -> None:
        assert self.process is not None
        kill_now(self.process)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


# --- Talking to a real Daphne -----------------------------------------------------------------


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Browser:
    """One person's websocket to a real Daphne, and the frames it received."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.http = http
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await self.ws.receive()
                    if message.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"the socket closed: {message.type.name}")
                    frame = json.loads(message.data)
                    self.frames.append(frame)
                    if predicate(frame):
                        return frame
        except TimeoutError:
            seen = [(f["type"], f.get("seq")) for f in self.frames[-5:]]
            raise AssertionError(f"no such frame in {timeout} s; the last ones: {seen}") from None

    async def assistant_created(self) -> dict[str, Any]:
        frame = await self.until(
            lambda f: f["type"] == "message.created" and f["message"]["role"] == "assistant"
        )
        return frame["message"]

    async def until_final(self, message_id: int, timeout: float = WAIT) -> dict[str, Any]:
        return await self.until(
            lambda f: f["type"] in {"message.done", "message.error"} and f["message"] == message_id,
            timeout=timeout,
        )

    def text(self, message_id: int) -> str:
        deltas = [f for f in self.frames if f["type"] == "message.delta"]
        return "".join(f["text"] for f in deltas if f["message"] == message_id)


@contextlib.asynccontextmanager
async def browser(base_url: str, cookie: str) -> AsyncIterator[Browser]:
    headers = {"Origin": base_url, "Cookie": f"sessionid={cookie}"}
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            base_url.replace("http://", "ws://") + "/ws/chat/", headers=headers
        )
        try:
            yield Browser(http, ws)
        finally:
            await ws.close()


async def ask(url: str, cookie: str, question: str, **fields: Any) -> dict[str, Any]:
    """One question on a fresh socket, read to its final frame."""
    async with browser(url, cookie) as page:
        await page.send({"type": "chat.send", "content": question, **fields})
        answer = await page.assistant_created()
        return await page.until_final(answer["id"])


def api_key(user) -> str:
    from gateway.keys import apikey_create

    return apikey_create(user=user, name="faults")[1]


def worker_up(daphne_url: str, token: str, worker_url: str) -> float | None:
    """``aiportal_worker_up`` for one worker, as a web process sees its pool now: a /v1
    request makes it read the pool's latest snapshot, which sets the gauge /metrics shows."""
    httpx.get(
        f"{daphne_url}/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).raise_for_status()
    name = worker_url.removeprefix("http://")
    for line in httpx.get(f"{daphne_url}/metrics", timeout=5).text.splitlines():
        if line.startswith("aiportal_worker_up{") and f'worker="{name}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def emulator_state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/emulator/state", timeout=5).json()


async def eventually(check: Callable[[], Any], *, timeout: float = WAIT, what: str = "it") -> Any:
    """Poll ``check`` (sync; run in a thread, so it may use the ORM) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await database_sync_to_async(check)()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False
