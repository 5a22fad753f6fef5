"""Helpers for the second-factor, sessions and live-revocation tests: websockets to a real
Daphne, signed-in sessions, API keys, TOTP codes, and fixtures for driving the ASGI
application in this process. Test modules take the fixtures they use from here."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
import pytest
from django.test import Client

from tests.conftest import PASSWORD

WAIT = 10  # seconds: an upper bound for one event, never a sleep
# Transactional tests empty only these apps' tables afterwards (far quicker than all). Not
# django.contrib.auth: emptying it would take every permission away from the tests after.
AVAILABLE_APPS = [
    "accounts",
    "gateway",
    "django.contrib.sessions",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
]


def cookie_for(user, *, user_agent: str = "pytest") -> tuple[Client, str]:
    """A session of ``user`` signed in through the sign-in form, as a browser would (so the
    sessions page lists it): a test client holding it, and its cookie."""
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]
    return client, client.cookies["sessionid"].value


def signed_in_with_code(user, secret: str, *, user_agent: str = "pytest") -> Client:
    """A session of ``user``, who has an authenticator app, signed in as a person does: the
    password, then the app's code. (``force_login`` makes a session without the second
    factor, which the site ends on its first page: accounts/signin/mfa_middleware.py.)"""
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.headers.get("Location") == "/accounts/2fa/authenticate/", response
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert response.status_code == 302, response.content[:500]
    return client


def reauthenticate(client: Client) -> None:
    """Enter the password again, as allauth asks before a factor is added or removed."""
    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    assert response.status_code == 302, response.content[:500]


@pytest.fixture
async def thread_connections_closed():
    """The ORM calls an async test makes run in a worker thread whose connection stays
    open; close it, or the test database cannot be dropped at the end."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def key_for(user) -> str:
    from gateway.keys import apikey_create

    return apikey_create(user=user, name="script")[1]


async def models_status(base_url: str, token: str) -> int:
    """The status of an API call made with ``token`` (a 200 or a 401)."""
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.get(
            f"{base_url}/v1/models", headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code


CLOSED = {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}


class LiveSocket:
    """A websocket read all along, as a browser reads one: the server's close frame is
    answered at once. A client that read only when a test asked lost that frame under load:
    while it waited for its own HTTP call, the server gave up waiting for the answer to its
    close, dropped the connection, and the unread frame went with it (1006, not 4403)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._messages: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()  # answers a close frame itself
            self._messages.put_nowait(message)
            if message.type in CLOSED:
                return

    async def _next(self) -> aiohttp.WSMessage:
        async with asyncio.timeout(WAIT):
            return await self._messages.get()

    async def answers(self) -> bool:
        """Whether the socket is open and served: a ping gets its pong."""
        if self.ws.closed:
            return False
        await self.ws.send_str(json.dumps({"type": "ping"}))
        while True:
            message = await self._next()
            if message.type != aiohttp.WSMsgType.TEXT:
                return False
            if json.loads(message.data).get("type") == "pong":
                return True

    async def first_frame(self) -> dict:
        message = await self._next()
        assert message.type == aiohttp.WSMsgType.TEXT, message
        return json.loads(message.data)

    async def close_code(self) -> int | None:
        """Wait (at most WAIT) for the server to close the socket; its code."""
        async with asyncio.timeout(WAIT):
            await asyncio.shield(self._reader)
        return self.ws.close_code

    async def stop_reading(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@asynccontextmanager
async def live_socket(base_url: str, cookie: str, path: str = "/ws/chat/") -> AsyncIterator:
    ws_url = base_url.replace("http://", "ws://") + path
    headers = {"Origin": base_url, "Cookie": f"sessionid={cookie}"}
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, headers=headers) as ws:
        socket = LiveSocket(ws)
        try:
            yield socket
        finally:
            await socket.stop_reading()


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for ``secret`` now (or ``steps_ahead`` periods
    on: the server accepts one period either side, and refuses a code used before)."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    counter = int(time.time()) // app_settings.TOTP_PERIOD + steps_ahead
    return format_hotp_value(hotp_value(secret, counter))


def totp_enrol(user) -> tuple[str, list[str]]:
    """Give ``user`` an authenticator app and recovery codes, as the enrolment page does;
    returns the secret and the codes."""
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user).generate_codes()
    return secret, codes


@pytest.fixture(scope="session")
def idle_connections_ended(django_db_setup, django_db_blocker):
    """The ASGI application driven in this process (WebsocketCommunicator) leaves the
    connections of its worker threads open (tests/chat/conftest.py says more); end them at
    the end of the session so that the test database can be dropped."""
    yield
    from django.db import OperationalError, connection

    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND state = 'idle'"
                )
        except OperationalError:
            pass  # another module's clean-up ended this connection a moment ago
        connection.close()


__all__ = [
    "AVAILABLE_APPS",
    "PASSWORD",
    "WAIT",
    "LiveSocket",
    "cookie_for",
    "idle_connections_ended",
    "key_for",
    "live_socket",
    "models_status",
    "reauthenticate",
    "signed_in_with_code",
    "thread_connections_closed",
    "totp_code",
    "totp_enrol",
]
