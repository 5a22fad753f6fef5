"""The one seam for the gateway's outgoing HTTP to workers: aiohttp sessions, one of each kind
per event loop.

- ``upstream_session()``: the answers themselves. Relaying a stream is one small read per
  token, and aiohttp's C parser does that at a seventh of httpx's CPU cost with 64 streams
  open (47 µs against 327 µs per chunk, measured with bench/gateway_overhead.py).
- ``probe_session()``: the prober's ``/health``, ``/metrics`` and ``/v1/models`` reads. Its
  own connection pool, so probes never wait behind a full pool of streams. aiohttp here too:
  the prober runs in a web process's event loop, beside the streams it serves, and a probe
  through httpx took that loop five times the CPU of aiohttp's (2.5 against 0.5 ms per
  worker, bench/probe_cost.py).

One session per process keeps connections to workers alive across requests. Sessions are
keyed by the running loop because none can be used from another loop (tests run each in its
own loop; Daphne has one). None follows an environment-configured proxy; a redirect is
never followed (the callers pass ``allow_redirects=False``).

Idle connections to workers are kept ``AIPORTAL_UPSTREAM_KEEPALIVE`` (4 s), less than vLLM's
own 5 s: a worker closes an idle connection on its side, and one the pool still holds past
that fails the next request sent on it. The close can still cross a request on the wire, so
``upstream_session`` marks each request that went out on a reused connection
(``ConnectionReuse``), and gateway/attempt.py sends it once more when such a connection turns
out closed before any byte of the answer came back.

State, per event loop: the upstream and probe sessions (``_upstream``, ``_probes``, ended with
their loop), and the tasks that close them at exit (``_guards``, held so they are not
collected). Never reset: tests get a fresh loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

import aiohttp
from django.conf import settings

_Registry = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]
_upstream: _Registry = weakref.WeakKeyDictionary()
_probes: _Registry = weakref.WeakKeyDictionary()


def _session(registry: _Registry, make: Callable[[], aiohttp.ClientSession]):
    loop = asyncio.get_running_loop()
    session = registry.get(loop)
    if session is None or session.closed:
        session = registry[loop] = make()
        # Closed when the loop winds down (asyncio.run and the test runner cancel every
        # task at the end): an unclosed session would complain when collected.
        _guards.add(loop.create_task(_close_at_exit(session), name="aiportal-http-session"))
    return session


class ConnectionReuse:
    """Passed as a request's ``trace_request_ctx``: ``reused`` tells whether aiohttp sent it
    on a connection taken from the pool rather than a new one."""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


async def _on_reuse(session, context, params) -> None:
    if isinstance(context.trace_request_ctx, ConnectionReuse):
        context.trace_request_ctx.reused = True


def _reuse_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_connection_reuseconn.append(_on_reuse)
    return trace


def upstream_session() -> aiohttp.ClientSession:
    return _session(
        _upstream,
        lambda: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=2000,
                limit_per_host=0,
                keepalive_timeout=settings.AIPORTAL_UPSTREAM_KEEPALIVE,
            ),
            trace_configs=[_reuse_trace()],
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=settings.AIPORTAL_CONNECT_TIMEOUT
            ),
            trust_env=False,  # workers sit on an internal network: no proxy from the env
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        ),
    )


def probe_session() -> aiohttp.ClientSession:
    return _session(
        _probes,
        lambda: aiohttp.ClientSession(
            # A connection per worker and kind of read at most: a probe cycle reads every
            # worker at once, and the next cycle reuses them.
            connector=aiohttp.TCPConnector(
                limit=0, limit_per_host=4, keepalive_timeout=settings.AIPORTAL_UPSTREAM_KEEPALIVE
            ),
            trust_env=False,
            # Plain text: a worker's /metrics page would otherwise come gzipped (the
            # Prometheus client compresses when asked), which costs both ends CPU on a
            # network where bandwidth is not the limit.
            headers={"Accept-Encoding": "identity"},
            skip_auto_headers=("User-Agent",),
        ),
    )


_guards: set[asyncio.Task[None]] = set()


async def _close_at_exit(session: aiohttp.ClientSession) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
        _guards.discard(asyncio.current_task())
