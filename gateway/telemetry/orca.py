"""vLLM's ORCA load report: the ``endpoint-load-metrics`` response header.

vLLM sends it on non-streaming responses when the request carries
``endpoint-load-metrics-format: text`` (or ``json``), measured as the answer completes:

    TEXT named_metrics.kv_cache_usage_perc=0.25, named_metrics.num_requests_waiting=2.0
    JSON {"named_metrics": {"kv_cache_usage_perc": 0.25, "num_requests_waiting": 2.0}}

A worker running several engines (data parallelism, ``--data-parallel-size``) reports each
name once per engine, one entry per engine's gauge (vLLM 0.34,
vllm/entrypoints/serve/utils/orca_metrics.py reads every labelled gauge of the metrics
snapshot):

    TEXT named_metrics.num_requests_waiting=2.0, named_metrics.num_requests_waiting=0.0,
         named_metrics.kv_cache_usage_perc=0.5, named_metrics.kv_cache_usage_perc=0.25

The worker's load is then the engines' together, as the prober reads ``/metrics``: queues
summed, KV use averaged (each engine has a cache of its own). JSON keeps only one engine's
value per name (vLLM builds a dict), which is why the gateway asks for text.

That is fresher than the last probe, so the proxy hands it to ``worker_load_update`` and
routing sees it at once in this process, and within ~100 ms in the others.
"""

from __future__ import annotations

import json
import logging
import math
import time

from gateway.redis import redis_client
from gateway.telemetry import store

logger = logging.getLogger(__name__)

HEADER = "endpoint-load-metrics"
FORMAT_HEADER = "endpoint-load-metrics-format"

# ORCA name → the field of the stored report (gateway/telemetry/snapshot.py reads them).
_FIELDS = {"num_requests_waiting": "waiting", "kv_cache_usage_perc": "kv"}


# Shares of a whole, averaged over a data-parallel worker's engines; every other repeated
# name (queue lengths, counts) is summed.
_AVERAGED = ("_perc", "utilization")


def orca_parse(header_value: str) -> dict[str, float]:
    """The report's metrics by name (``named_metrics.`` dropped), a name repeated per engine
    aggregated; {} for anything unreadable. Malformed pairs are skipped: a partial report is
    still news."""
    values: dict[str, list[float]] = {}
    _read(header_value, values)
    return {
        name: sum(seen) / len(seen) if name.endswith(_AVERAGED) else sum(seen)
        for name, seen in values.items()
    }


def _read(header_value: str, values: dict[str, list[float]]) -> None:
    kind, _, body = header_value.strip().partition(" ")
    kind = kind.upper()
    if kind == "TEXT":
        for pair in body.split(","):
            name, eq, raw = pair.strip().partition("=")
            if eq:
                _put(values, name.strip(), raw.strip())
    elif kind == "JSON":
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        named = data.pop("named_metrics", None)
        for name, raw in data.items():
            _put(values, name, raw)
        if isinstance(named, dict):
            for name, raw in named.items():
                _put(values, f"named_metrics.{name}", raw)


def _put(values: dict[str, list[float]], name: str, raw: object) -> None:
    name = name.removeprefix("named_metrics.")
    if not name or isinstance(raw, bool):
        return
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    if math.isfinite(number):
        values.setdefault(name, []).append(number)


async def worker_load_update(url: str, values: dict[str, float]) -> None:
    """Fold a worker's ORCA report into the pool's view: this process sees it at once,
    the others from Redis with their next refresh."""
    report: dict[str, float] = {"at": time.time()}
    for name, field in _FIELDS.items():
        if name in values:
            report[field] = max(0.0, float(values[name]))
    if "kv" in report:
        report["kv"] = min(report["kv"], 1.0)
    if len(report) == 1:
        return
    store.orca_local[url] = report
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.hset(store.orca_key(), url, json.dumps(report))
        pipe.pexpire(store.orca_key(), store.ORCA_TTL_MS)
        await pipe.execute()
    except Exception:  # advice for routing only; the response itself is fine
        logger.warning("sharing an ORCA report failed", exc_info=True)
