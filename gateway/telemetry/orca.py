"""vLLM's ORCA load report: the ``endpoint-load-metrics`` response header.

vLLM sends it on non-streaming responses when the request carries
``endpoint-load-metrics-format: text`` (or ``json``), measured as the answer completes:

    TEXT named_metrics.kv_cache_usage_perc=0.25, named_metrics.num_requests_waiting=2.0
    JSON {"named_metrics": {"kv_cache_usage_perc": 0.25, "num_requests_waiting": 2.0}}

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


def orca_parse(header_value: str) -> dict[str, float]:
    """The report's metrics by name (``named_metrics.`` dropped); {} for anything unreadable.
    Malformed pairs are skipped: a partial report is still news."""
    kind, _, body = header_value.strip().partition(" ")
    kind = kind.upper()
    values: dict[str, float] = {}
    if kind == "TEXT":
        for pair in body.split(","):
            name, eq, raw = pair.strip().partition("=")
            if eq:
                _put(values, name.strip(), raw.strip())
    elif kind == "JSON":
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        named = data.pop("named_metrics", None)
        for name, raw in data.items():
            _put(values, name, raw)
        if isinstance(named, dict):
            for name, raw in named.items():
                _put(values, f"named_metrics.{name}", raw)
    return values


def _put(values: dict[str, float], name: str, raw: object) -> None:
    name = name.removeprefix("named_metrics.")
    if not name or isinstance(raw, bool):
        return
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    if math.isfinite(number):
        values[name] = number


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
