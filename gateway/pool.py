"""The pool of vLLM workers this process can route to.

Issue 1/6 keeps it minimal: the workers come from ``AIPORTAL_WORKERS`` and the models each
serves are discovered from its ``/v1/models`` and cached briefly. Live load, health probing
and the routing policies arrive with the gateway issue (2/6).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from aiportal.env import ConfigError
from gateway.http import http_client

_REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MODELS_TTL = 10.0  # seconds a worker's model list is trusted before it is asked again
MODELS_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Worker:
    url: str  # base URL, no trailing slash, e.g. http://gpu1:8000
    region: str

    @property
    def name(self) -> str:
        return urlsplit(self.url).netloc


def workers_parse(value: str) -> list[Worker]:
    """Parse ``URL@REGION`` entries separated by commas. A URL may itself hold an ``@``
    (credentials), so the region is what follows the last one."""
    workers: list[Worker] = []
    for entry in (item.strip() for item in value.split(",")):
        if not entry:
            continue
        url, at, region = entry.rpartition("@")
        if not at or "/" in region:
            raise ConfigError(f"AIPORTAL_WORKERS entry {entry!r} must look like URL@REGION")
        if not _REGION.match(region):
            raise ConfigError(f"AIPORTAL_WORKERS entry {entry!r} has an invalid region")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"AIPORTAL_WORKERS entry {entry!r} needs an http(s) URL")
        workers.append(Worker(url=url.rstrip("/"), region=region))
    urls = [worker.url for worker in workers]
    if len(set(urls)) != len(urls):
        raise ConfigError("AIPORTAL_WORKERS lists the same worker twice")
    return workers


_parsed: tuple[str, list[Worker]] | None = None
_rotation = itertools.count()
_models_cache: dict[str, tuple[float, list[str]]] = {}


def workers_configured() -> list[Worker]:
    global _parsed
    raw = settings.AIPORTAL_WORKERS
    if _parsed is None or _parsed[0] != raw:
        _parsed = (raw, workers_parse(raw))
    return list(_parsed[1])


def workers_in_turn() -> list[Worker]:
    """All workers, starting at the next one in turn, so that load spreads across requests."""
    workers = workers_configured()
    if not workers:
        return []
    start = next(_rotation) % len(workers)
    return workers[start:] + workers[:start]


async def worker_models(worker: Worker) -> list[str] | None:
    """The model ids the worker serves, or None when it does not answer."""
    cached = _models_cache.get(worker.url)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    try:
        response = await http_client().get(f"{worker.url}/v1/models", timeout=MODELS_TIMEOUT)
        response.raise_for_status()
        models = [str(item["id"]) for item in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        # Unreachable, or not speaking vLLM's API: not a worker to route to right now.
        _models_cache.pop(worker.url, None)
        return None
    _models_cache[worker.url] = (now + MODELS_TTL, models)
    return models


async def models_available() -> list[str]:
    """Models served now by at least one worker that answers, in a stable order."""
    workers = workers_configured()
    answers = await asyncio.gather(*(worker_models(worker) for worker in workers))
    seen: dict[str, None] = {}
    for models in answers:
        for model in models or []:
            seen.setdefault(model, None)
    return list(seen)


def models_cache_clear() -> None:
    _models_cache.clear()
