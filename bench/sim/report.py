"""Figures from simulation runs: per-run summaries (small enough to send between processes),
pooled over seeds, and the printed table."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bench.sim.runner import RunResult
from gateway.routing import POLICIES, route
from gateway.types import RouteRequest, WorkerSpec, WorkerView


@dataclass
class Summary:
    policy: str
    rate: float
    ttfts: list[float] = field(default_factory=list)
    prompt_tokens: int = 0
    hit_tokens: int = 0
    output_tokens: int = 0  # finished inside the window
    window_seconds: float = 0.0
    route_calls: int = 0
    route_seconds: float = 0.0
    unfinished: int = 0

    def merge(self, other: Summary) -> None:
        self.ttfts += other.ttfts
        self.prompt_tokens += other.prompt_tokens
        self.hit_tokens += other.hit_tokens
        self.output_tokens += other.output_tokens
        self.window_seconds += other.window_seconds
        self.route_calls += other.route_calls
        self.route_seconds += other.route_seconds
        self.unfinished += other.unfinished

    def ttft(self, quantile: float) -> float:
        values = sorted(self.ttfts)
        if not values:
            return math.nan
        return values[min(len(values) - 1, int(quantile * len(values)))]

    @property
    def throughput(self) -> float:
        return self.output_tokens / self.window_seconds if self.window_seconds else 0.0

    @property
    def hit_rate(self) -> float:
        return self.hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def route_micros(self) -> float:
        return 1e6 * self.route_seconds / self.route_calls if self.route_calls else 0.0


def summary_of(result: RunResult) -> Summary:
    start, end = result.window_bounds
    admitted = [r for r in result.measured if not math.isnan(r.admitted)]
    return Summary(
        policy=result.policy,
        rate=result.rate,
        ttfts=[
            r.first_token - r.arrival if not math.isnan(r.first_token) else math.inf
            for r in result.measured
        ],
        prompt_tokens=sum(r.prompt_tokens for r in admitted),
        hit_tokens=sum(r.hit_tokens for r in admitted),
        output_tokens=sum(r.output_tokens for r in result.requests if start <= r.finished < end),
        window_seconds=end - start,
        route_calls=result.route_calls,
        route_seconds=result.route_seconds,
        unfinished=result.unfinished,
    )


def max_sustained(summaries: Iterable[Summary], *, slo: float) -> float | None:
    """The highest rate whose p99 TTFT meets the SLO (and every lower rate too)."""
    best = None
    for summary in sorted(summaries, key=lambda s: s.rate):
        if summary.ttft(0.99) > slo or summary.unfinished:
            break
        best = summary.rate
    return best


def _seconds(value: float) -> str:
    if math.isinf(value):
        return "  never"
    return f"{value:7.3f}" if value < 100 else f"{value:7.1f}"


def table_print(summaries: Sequence[Summary], *, policies: Sequence[str]) -> None:
    rates = sorted({s.rate for s in summaries})
    by_key = {(s.policy, s.rate): s for s in summaries}
    print(
        f"{'conv/s':>6}  {'policy':<18} {'TTFT p50':>8} {'TTFT p99':>8} {'tokens/s':>9} "
        f"{'cache hit':>9} {'route µs':>8}"
    )
    for rate in rates:
        for policy in policies:
            s = by_key.get((policy, rate))
            if s is None:
                continue
            print(
                f"{rate:6.2f}  {policy:<18} {_seconds(s.ttft(0.5)):>8} {_seconds(s.ttft(0.99)):>8} "
                f"{s.throughput:9.0f} {s.hit_rate:9.1%} {s.route_micros:8.1f}"
            )
        print()


def route_timing(*, workers: int = 64, calls: int = 3000, seed: int = 1) -> dict[str, float]:
    """Microseconds per ``route`` call over a pool of ``workers`` with varied loads."""
    rng = random.Random(seed)
    views = [
        WorkerView(
            spec=WorkerSpec(url=f"http://gpu{i}:8000", region=("eu", "us")[i % 2]),
            models=frozenset({"m"}),
            healthy=True,
            running=float(rng.randint(0, 40)),
            waiting=float(rng.choice([0, 0, 0, 2])),
            kv_usage=rng.random() * 0.9,
            metrics_age=rng.random(),
            inflight=rng.randint(0, 40),
        )
        for i in range(workers)
    ]
    requests = [
        RouteRequest(model="m", home_region="eu", affinity_key=f"conversation-{i}")
        for i in range(calls)
    ]
    timings: dict[str, float] = {}
    for policy in POLICIES:
        route(views, requests[0], policy=policy, rng=rng)  # build and cache the ring
        started = time.perf_counter()
        for request in requests:
            route(views, request, policy=policy, rng=rng)
        timings[policy] = 1e6 * (time.perf_counter() - started) / calls
    return timings
