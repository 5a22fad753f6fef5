"""Helpers for the chat tests: a signed-in websocket on the real ASGI application, frame
collectors that wait for events (never for time), and emulated workers with special
behaviour."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection, connections
from django.test import Client

from tests.conftest import start_emulator, sync_orm_beside_playwright

ORIGIN = b"http://127.0.0.1"
WAIT = 10  # seconds: an upper bound for any one event, never a sleep


@database_sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def communicator(*, cookie: str | None = None, origin: bytes | None = ORIGIN):
    from aiportal.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/chat/", headers=headers)


class Socket:
    """A connected communicator plus the frames it has received so far."""

    def __init__(self, comm: WebsocketCommunicator) -> None:
        self.comm = comm
        self.frames: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.comm.send_to(text_data=text)

    async def receive(self, timeout: float = WAIT) -> dict[str, Any]:
        frame = json.loads(await self.comm.receive_from(timeout=timeout))
        self.frames.append(frame)
        return frame

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        """Receive until a frame matches; every frame received is kept in ``frames``."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    frame = await self.receive(timeout=timeout)
                    if predicate(frame):
                        return frame
        except TimeoutError:
            seen = [(f["type"], f.get("seq")) for f in self.frames[-5:]]
            crashed = self.comm.future.done() and self.comm.future.exception()
            raise AssertionError(
                f"no such frame in {timeout} s; the last ones: {seen}; consumer: {crashed!r}"
            ) from None

    async def until_type(self, *types: str, timeout: float = WAIT) -> dict[str, Any]:
        return await self.until(lambda f: f["type"] in types, timeout=timeout)

    async def until_final(self, message_id: int, timeout: float = WAIT) -> dict[str, Any]:
        return await self.until(
            lambda f: (
                f["type"] in {"message.done", "message.error"} and f.get("message") == message_id
            ),
            timeout=timeout,
        )

    async def assistant_created(self) -> dict[str, Any]:
        frame = await self.until(
            lambda f: f["type"] == "message.created" and f["message"]["role"] == "assistant"
        )
        return frame["message"]

    def deltas(self, message_id: int) -> list[dict[str, Any]]:
        return [
            f for f in self.frames if f["type"] == "message.delta" and f["message"] == message_id
        ]

    async def nothing_more(self) -> bool:
        return await self.comm.receive_nothing(timeout=0.2)


@asynccontextmanager
async def signed_in(user) -> AsyncIterator[Socket]:
    comm = communicator(cookie=await session_cookie(user))
    connected, _ = await comm.connect()
    assert connected
    try:
        yield Socket(comm)
    finally:
        await comm.disconnect()


def send_frame(content: str = "Hello there", **fields: Any) -> dict[str, Any]:
    return {"type": "chat.send", "conversation": None, "content": content, **fields}


async def generations_finished(timeout: float = WAIT) -> None:
    from chat.services.generation import generation_tasks

    tasks = generation_tasks()
    if tasks:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*tasks, return_exceptions=True)


async def eventually(check: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll ``check`` (sync, run in a thread for the ORM) until it returns a truthy value."""
    async with asyncio.timeout(timeout):
        while True:
            result = await database_sync_to_async(check)()
            if result:
                return result
            await asyncio.sleep(0.05)


@pytest.fixture(scope="session", autouse=True)
def _no_idle_sessions_left(django_db_setup, django_db_blocker):
    """Under WebsocketCommunicator (not under Daphne: checked with pg_stat_activity) the
    connections that database_sync_to_async opens inside the application, channels' own
    get_user's included, are not closed, and the test database then cannot be dropped.
    End them once the chat tests are over."""
    yield
    with django_db_blocker.unblock(), sync_orm_beside_playwright():
        if connection.vendor != "postgresql":
            return
        # Another directory's conftest may hold this fixture too (tests/security, tests/tools):
        # the one that ran first ended this connection if it sat idle. A fresh one, then.
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state = 'idle'"
            )
        connection.close()


@pytest.fixture(autouse=True)
def _fresh_channel_layer(fresh_channel_layer):
    """Every chat test starts with a new, empty channel layer (tests/conftest.py)."""


@pytest.fixture(autouse=True)
def _no_generated_titles(settings):
    # The extra request and frame of a generated title would disturb tests that count
    # requests or frames; tests/chat/test_titles.py turns titles on.
    settings.AIPORTAL_CHAT_TITLES = False


@pytest.fixture
async def no_leftover_generations():
    yield
    from chat.services.generation import generation_tasks

    # A generation still running would die with this test's event loop: wait, then cancel.
    try:
        await generations_finished()
    except TimeoutError:
        # Say where a generation hangs, not only that it does.
        for task in generation_tasks():
            task.print_stack(file=sys.stderr)
        raise
    finally:
        for task in generation_tasks():
            task.cancel()
        # The async ORM's thread keeps its connection: close it, or the test database
        # cannot be dropped at the end of the session.
        await sync_to_async(connections.close_all)()


@pytest.fixture(scope="session")
def slow_emulator_url():
    """A worker slow enough to watch and to stop mid-answer: about 8 s for an answer."""
    process, url = start_emulator(
        "--tokens-per-second", "25", "--ttft-ms", "20", region="test-slow"
    )
    yield url
    process.stop()


@pytest.fixture(scope="session")
def faulty_emulator_url():
    """A worker whose faults each test sets (``POST /emulator/faults``) and clears."""
    process, url = start_emulator(
        "--tokens-per-second", "400", "--ttft-ms", "10", region="test-faulty"
    )
    yield url
    process.stop()


@pytest.fixture
def slow_worker(settings, slow_emulator_url):
    settings.AIPORTAL_WORKERS = f"{slow_emulator_url}@test-slow"
    return slow_emulator_url


@pytest.fixture
def faulty_worker(settings, faulty_emulator_url):
    settings.AIPORTAL_WORKERS = f"{faulty_emulator_url}@test-faulty"

    def set_faults(**faults: Any) -> None:
        httpx.post(f"{faulty_emulator_url}/emulator/faults", json=faults).raise_for_status()

    yield set_faults
    httpx.delete(f"{faulty_emulator_url}/emulator/faults").raise_for_status()


def emulator_state(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/emulator/state").json()


@pytest.fixture
def pause_next_answer(emulator_url):
    """Make the session's worker (the one ``daphne_url`` serves) pause its next answer after
    ``tokens`` tokens for ``seconds``: a moment to look at, or reload, a half-streamed answer."""

    def pause(*, tokens: int, seconds: float) -> None:
        faults = {"stall_after_tokens": tokens, "stall_seconds": seconds, "times": 1}
        httpx.post(f"{emulator_url}/emulator/faults", json=faults).raise_for_status()

    yield pause
    httpx.delete(f"{emulator_url}/emulator/faults").raise_for_status()
