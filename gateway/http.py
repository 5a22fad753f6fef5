"""The one seam for the gateway's outgoing HTTP, one client of each kind per event loop.

- ``http_client()`` (httpx): probes, model lists, everything but relaying answers.
- ``upstream_session()`` (aiohttp): the answers themselves. Relaying a stream is one small
  read per token, and aiohttp's C parser does that at a seventh of httpx's CPU cost with 64
  streams open (47 µs against 327 µs per chunk, measured with bench/gateway_overhead.py).

One client per process keeps connections to workers alive across requests. Both are keyed by
the running loop because neither can be used from another loop (tests run each in its own
loop; Daphne has one). Neither follows redirects or an environment-configured proxy.
"""

from __future__ import annotations

import asyncio
import weakref

import aiohttp
import httpx
from django.conf import settings

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.AIPORTAL_CONNECT_TIMEOUT, read=None, write=30.0, pool=10.0
            ),
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200),
            # Workers sit on an internal network: never route to them through an
            # environment-configured proxy, never follow a redirect elsewhere.
            trust_env=False,
            follow_redirects=False,
        )
        _clients[loop] = client
    return client


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


def upstream_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=2000, limit_per_host=0, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=settings.AIPORTAL_CONNECT_TIMEOUT
            ),
            trust_env=False,  # workers sit on an internal network: no proxy from the env
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )
        _sessions[loop] = session
        # Closed when the loop winds down (asyncio.run and the test runner cancel every
        # task at the end): an unclosed session would complain when collected.
        _guards.add(loop.create_task(_close_at_exit(session), name="aiportal-upstream-session"))
    return session


_guards: set[asyncio.Task[None]] = set()


async def _close_at_exit(session: aiohttp.ClientSession) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
        _guards.discard(asyncio.current_task())
