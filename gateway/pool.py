"""The pool of vLLM workers: where they come from.

Three sources, combined into one ``list[WorkerSpec]`` on every probe cycle:
- ``AIPORTAL_WORKERS``: comma-separated ``URL@REGION`` entries;
- the ``Worker`` table, managed in admin (a row with the same URL as an env entry wins);
- DNS: an entry whose scheme is ``dns+http`` or ``dns+https`` (``dns+http://vllm:8000@eu``)
  stands for one worker per address the name resolves to, as ``docker compose --scale``
  makes; the name is resolved again on every cycle, in a thread, never on the event loop.

What each worker serves and how loaded it is comes from probing (gateway/telemetry/).

State: ``_state`` (a ``PoolState``), per process: the last DNS answer per entry and the last
Worker rows read (so that a resolver or database hiccup does not empty the pool), the parsed
``AIPORTAL_WORKERS``, and the Worker-table read in flight per event loop.
``pool_state_reset()`` (gateway/state.py) resets it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

from common.env import ConfigError
from gateway.types import WorkerSpec
from gateway.worker_urls import worker_url_check

logger = logging.getLogger(__name__)

_REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DNS_PREFIX = "dns+"
DNS_TIMEOUT = 2.0  # seconds; a resolver slower than this keeps the last answer

Resolver = Callable[[str, int], Awaitable[list[str]]]


def workers_parse(value: str) -> list[WorkerSpec]:
    """Parse ``URL@REGION`` entries separated by commas. A URL may itself hold an ``@``
    (credentials), so the region is what follows the last one."""
    workers: list[WorkerSpec] = []
    for entry in (item.strip() for item in value.split(",")):
        if not entry:
            continue
        url, at, region = entry.rpartition("@")
        if not at or "/" in region:
            raise ConfigError(f"AIPORTAL_WORKERS entry {entry!r} must look like URL@REGION")
        if not _REGION.match(region):
            raise ConfigError(f"AIPORTAL_WORKERS entry {entry!r} has an invalid region")
        try:
            url = worker_url_check(url)
        except ValueError as exc:
            raise ConfigError(f"AIPORTAL_WORKERS entry {entry!r} {exc}") from None
        workers.append(WorkerSpec(url=url, region=region, source="env"))
    urls = [worker.url for worker in workers]
    if len(set(urls)) != len(urls):
        raise ConfigError("AIPORTAL_WORKERS lists the same worker twice")
    return workers


def is_dns_entry(url: str) -> bool:
    return url.startswith(DNS_PREFIX)


# --- DNS ------------------------------------------------------------------------------------


class NameGone(Exception):
    """The name does not exist (any more): zero workers, not a failure to remember."""


async def dns_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, IPv4 first, in a stable order. asyncio runs
    getaddrinfo in its thread pool, so a slow resolver never blocks the loop."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(DNS_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            raise NameGone(host) from None
        raise
    addresses = {info[4][0] for info in infos}
    return sorted(addresses, key=lambda a: (ipaddress.ip_address(a).version, a))


def _address_url(entry_url: str, address: str) -> str:
    """``dns+http://user@vllm:8000/x`` and 10.0.0.5 → ``http://user@10.0.0.5:8000/x``."""
    parts = urlsplit(entry_url)
    host = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme.removeprefix(DNS_PREFIX), netloc, parts.path, "", ""))


@dataclass(slots=True)
class DnsEntry:
    """A DNS entry's last resolution, shown on the admin pool page."""

    url: str
    region: str
    addresses: list[str] = field(default_factory=list)
    error: str = ""
    resolved_at: float = 0.0


async def _dns_expand(spec: WorkerSpec, resolver: Resolver) -> tuple[list[WorkerSpec], DnsEntry]:
    parts = urlsplit(spec.url)
    scheme = parts.scheme.removeprefix(DNS_PREFIX)
    port = parts.port or (443 if scheme == "https" else 80)
    entry = DnsEntry(url=spec.url, region=spec.region, resolved_at=time.time())
    try:
        addresses = await resolver(parts.hostname or "", port)
        _state.dns_last[spec.url] = addresses
    except NameGone:
        addresses = _state.dns_last[spec.url] = []
        entry.error = "the name does not resolve"
    except (OSError, TimeoutError) as exc:
        addresses = _state.dns_last.get(spec.url, [])
        entry.error = f"resolution failed ({type(exc).__name__}); kept the last answer"
        logger.warning("resolving %s failed: %r", parts.hostname, exc)
    entry.addresses = list(addresses)
    specs = [
        replace(spec, url=_address_url(spec.url, address), source="dns") for address in addresses
    ]
    return specs, entry


# --- Combining the sources ------------------------------------------------------------------


@dataclass(slots=True)
class Pool:
    workers: list[WorkerSpec]
    dns: list[DnsEntry]
    # Worker URL → the configured entry it comes from (its own URL, or the dns+ entry).
    origin: dict[str, str]


class PoolState:
    """What this process remembers of the pool's sources between probe cycles."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # Last good answer per DNS entry: a resolver hiccup must not empty the pool.
        self.dns_last: dict[str, list[str]] = {}
        # AIPORTAL_WORKERS as last parsed, with the text it was parsed from.
        self.env_parsed: tuple[str, list[WorkerSpec]] | None = None
        # The Worker rows last read, and when a failed read was last logged (monotonic).
        self.admin_last: list[WorkerSpec] = []
        self.admin_warned_at = 0.0
        # The Worker-table read in flight, per event loop (see ``workers_from_admin``).
        self.admin_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = (
            weakref.WeakKeyDictionary()
        )


_state = PoolState()


def pool_state_reset() -> None:
    """Forget the last admin rows and DNS answers (tests, between configurations)."""
    _state.reset()


def workers_from_env() -> list[WorkerSpec]:
    raw = settings.AIPORTAL_WORKERS
    parsed = _state.env_parsed
    if parsed is None or parsed[0] != raw:
        parsed = _state.env_parsed = (raw, workers_parse(raw))
    return list(parsed[1])


def workers_configured() -> list[WorkerSpec]:
    """The env's fixed workers (no DNS entries), without touching the database or DNS."""
    return [spec for spec in workers_from_env() if not is_dns_entry(spec.url)]


def regions_known() -> list[str]:
    """Every region a worker is configured in (AIPORTAL_WORKERS, DNS entries included, and
    the admin's Worker table), sorted: what a form offers for "allowed regions"."""
    regions = {spec.region for spec in workers_from_env()}
    regions.update(spec.region for spec in _admin_rows_read())
    return sorted(regions)


def _admin_rows_read() -> list[WorkerSpec]:
    from gateway.models import Worker

    specs = []
    for row in Worker.objects.all():
        try:
            url = worker_url_check(row.base_url)
        except ValueError as exc:
            # Saved around the admin form's validation (a shell, a fixture): skip that row,
            # not the whole table.
            logger.warning("Worker %s has an unusable base URL: %s", row.pk, exc)
            continue
        specs.append(
            WorkerSpec(
                url=url,
                region=row.region,
                weight=row.weight,
                enabled=row.enabled,
                draining=row.draining,
                max_concurrency=row.max_concurrency,
                api_key=row.api_key,
                source="admin",
            )
        )
    return specs


ADMIN_WARN_EVERY = 60.0


# How long a probe cycle waits for the Worker table before it goes on with the last rows.
ADMIN_READ_WAIT = 0.5


async def workers_from_admin() -> list[WorkerSpec]:
    """The Worker table; the last rows read when the database does not answer (a database
    hiccup must not empty the pool).

    A database that is down can make a read wait for the connection pool's timeout
    (seconds): the probe cycle waits ``ADMIN_READ_WAIT`` at most and probes with the last
    rows, and the read left running is what the next cycle waits for, so a slow database
    never holds more than one thread."""
    from channels.db import database_sync_to_async

    state = _state
    loop = asyncio.get_running_loop()
    read = state.admin_reads.get(loop)
    if read is None or read.done():
        read = state.admin_reads[loop] = loop.create_task(
            database_sync_to_async(_admin_rows_read)()
        )
    try:
        async with asyncio.timeout(ADMIN_READ_WAIT):
            state.admin_last = await asyncio.shield(read)
    except Exception as exc:  # the pool must outlive the database
        # Once a minute, not once a probe: a database outage would flood the log.
        if time.monotonic() - state.admin_warned_at > ADMIN_WARN_EVERY:
            state.admin_warned_at = time.monotonic()
            reason = "it is slow" if isinstance(exc, TimeoutError) else repr(exc)
            logger.warning("reading the Worker table failed (%s); using the last rows", reason)
    return list(state.admin_last)


def pool_combine(env: list[WorkerSpec], admin: list[WorkerSpec]) -> list[WorkerSpec]:
    """Env entries in their order, an admin row replacing the env entry with its URL, then
    the remaining admin rows."""
    by_url = {spec.url: spec for spec in admin}
    combined = [by_url.pop(spec.url, spec) for spec in env]
    return combined + list(by_url.values())


async def pool_resolve(*, resolver: Resolver | None = None) -> Pool:
    """The configured pool now: env and admin combined, DNS entries expanded. An address
    already listed explicitly keeps its explicit settings."""
    resolver = resolver or dns_resolve
    configured = pool_combine(workers_from_env(), await workers_from_admin())
    dns_specs = [spec for spec in configured if is_dns_entry(spec.url)]
    expansions = await asyncio.gather(*(_dns_expand(spec, resolver) for spec in dns_specs))
    expanded = iter(expansions)
    workers: list[WorkerSpec] = []
    origin: dict[str, str] = {}
    seen = {spec.url for spec in configured if not is_dns_entry(spec.url)}
    for spec in configured:
        if not is_dns_entry(spec.url):
            workers.append(spec)
            origin[spec.url] = spec.url
            continue
        for address_spec in next(expanded)[0]:
            if address_spec.url in seen:
                continue
            seen.add(address_spec.url)
            workers.append(address_spec)
            origin[address_spec.url] = spec.url
    return Pool(workers=workers, dns=[entry for _, entry in expansions], origin=origin)


async def pool_specs(*, resolver: Resolver | None = None) -> list[WorkerSpec]:
    return (await pool_resolve(resolver=resolver)).workers
