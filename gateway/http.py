"""The one seam for the gateway's outgoing HTTP: a shared ``httpx.AsyncClient`` per event loop.

One client per process keeps connections to workers alive across requests. It is keyed by
the running loop because an httpx client cannot be used from another loop (tests run each in
its own loop; Daphne has one).
"""

from __future__ import annotations

import asyncio
import weakref

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
