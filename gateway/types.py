"""The values the gateway's parts hand each other: what a worker is (``WorkerSpec``), what is
known of it right now (``WorkerView``) and what a request asks of routing (``RouteRequest``).

Routing is pure functions over a list of ``WorkerView``s, so the live gateway and the routing
simulator (bench/routing_sim.py) run exactly the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """A worker as configured: from AIPORTAL_WORKERS, the admin's Worker table or DNS."""

    url: str  # base URL without trailing slash; also the worker's identity
    region: str
    weight: float = 1.0
    enabled: bool = True
    draining: bool = False
    # Requests the gateway sends it at once at most; None means no gateway-side cap.
    max_concurrency: int | None = None
    # Bearer token for the worker's own API; never shown back in admin or logs.
    api_key: str = field(default="", repr=False)
    source: str = "env"  # env, admin or dns

    @property
    def name(self) -> str:
        return urlsplit(self.url).netloc


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One worker as routing sees it at one moment."""

    spec: WorkerSpec
    models: frozenset[str] = frozenset()
    healthy: bool = False
    circuit_open: bool = False
    # vLLM's own gauges, summed over the engine label (from /metrics or the ORCA header).
    running: float = 0.0
    waiting: float = 0.0
    kv_usage: float = 0.0  # 0..1
    # Seconds since the gauges above were read; math.inf when never.
    metrics_age: float = math.inf
    # Streams the gateway has open to it now, counted across every web process.
    inflight: int = 0
    # The worker exports no load gauges (vLLM's --disable-log-stats): the gauges above are
    # zeros, not news, and its load is the in-flight count alone (gateway/routing.py).
    no_load_metrics: bool = False
    # The worker's own prefix-cache hit rate between its last probes, and its KV cache in
    # tokens (vllm:cache_config_info); None until known.
    prefix_hit_rate: float | None = None
    kv_capacity_tokens: int | None = None

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def region(self) -> str:
        return self.spec.region


@dataclass(frozen=True, slots=True)
class RouteRequest:
    model: str
    # Regions the request may use; None means any. A hard constraint: never relaxed for load.
    allowed_regions: frozenset[str] | None = None
    # Preferred region (the user's home), used while it has a worker that is not overloaded.
    home_region: str | None = None
    # Keeps a conversation on one worker so vLLM's prefix cache is reused turn after turn.
    affinity_key: str | None = None
    # Workers already tried for this request (failover, continuation).
    exclude: frozenset[str] = frozenset()
