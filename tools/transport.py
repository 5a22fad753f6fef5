"""The one way aiportal connects to an MCP server (or its OAuth token URL): an httpx
AsyncClient whose every connection is checked by the dataset fetcher's address rules
(datasets/sources/fetch.py) and pinned to the address that was checked.

httpx hands its connection pool a host name; our network backend (``_PinnedBackend``, the
async twin of the fetcher's) ignores it after resolving it once itself, checking every
address it resolves to, and dials one of those addresses. There is no second lookup a DNS
rebinding could answer differently. TLS still verifies the certificate for the host name (it
is the SNI and the Host header). A private or loopback address is refused unless the host is
in ``AIPORTAL_FETCH_ALLOW_HOSTS`` or the server's ``allow_private`` flag (admins only) is set;
cloud metadata, multicast and unspecified addresses are refused always.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpcore
import httpx
from django.conf import settings

from datasets.sources import fetch
from datasets.sources.base import SourceError


class AddressRefused(Exception):
    """The server's URL or its addresses are not allowed; the message says which and why."""


def _check(host: str, port: int, *, allow_private: bool) -> list[fetch.IPAddress]:
    """Resolve ``host`` once and check every address: those to dial, or AddressRefused.
    (httpcore does not tell a backend the scheme; the rules do not depend on it.)"""
    try:
        shown = f"[{host}]" if ":" in host else host  # an IPv6 literal, as httpcore gives it
        target = fetch.url_parse(f"http://{shown}:{port}/")
        if not allow_private:
            return fetch.target_addresses(target)
        if target.ip is not None:
            addresses: list[fetch.IPAddress] = [target.ip]
        else:
            addresses = [ipaddress.ip_address(a) for a in fetch.resolve(target.host, port)]
    except SourceError as exc:
        raise AddressRefused(str(exc)) from None
    except OSError as exc:
        raise AddressRefused(f"{host} cannot be resolved ({exc})") from None
    if not addresses:
        raise AddressRefused(f"{host} has no address")
    for ip in addresses:
        reason = fetch.address_refusal(ip, allowed=True)
        if reason:
            raise AddressRefused(f"{host} resolves to {ip}, a refused address ({reason})")
    return addresses


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Dials only addresses it resolved and checked itself, whatever httpcore asks for."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        # getaddrinfo blocks: in a thread, so the event loop serves other answers meanwhile.
        addresses = await asyncio.to_thread(_check, host, port, allow_private=self._allow_private)
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(str(ip), port, timeout=timeout)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never used for MCP")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, allow_private: bool) -> None:
        # trust_env off: no proxy from the environment may carry the request elsewhere.
        super().__init__(trust_env=False, retries=0)
        # httpx 0.28 takes no network backend, so the pool it built (with the TLS context it
        # made from the system's CAs and SSL_CERT_FILE/DIR) is rebuilt around ours, with its
        # limits: the one place that reaches into httpx. tests/security/test_mcp_tools.py
        # proves every connection goes through the backend.
        pool = self._pool
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=pool._max_connections,
            max_keepalive_connections=pool._max_keepalive_connections,
            keepalive_expiry=pool._keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_PinnedBackend(allow_private=allow_private),
        )


def client_open(
    *, allow_private: bool, timeout: float, headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    """An AsyncClient for one MCP conversation with a server (enter it with ``async with``).
    Redirects are not followed by httpx; the MCP SDK follows same-origin ones only, and every
    connection, wherever it goes, passes the address check."""
    return httpx.AsyncClient(
        transport=_PinnedTransport(allow_private=allow_private),
        timeout=httpx.Timeout(timeout),
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )


def url_refusal(url: str, *, allow_private: bool) -> str:
    """Why ``url`` may not be an MCP server's (without resolving): "" when it may."""
    try:
        target = fetch.url_parse(url)
    except SourceError as exc:
        return str(exc)
    if target.ip is not None:
        reason = fetch.address_refusal(target.ip, allowed=allow_private or _listed(target.host))
        if reason:
            return f"{url} points at a refused address ({reason})"
    return ""


def _listed(host: str) -> bool:
    return host in {h.strip().lower().strip("[]") for h in settings.AIPORTAL_FETCH_ALLOW_HOSTS}
