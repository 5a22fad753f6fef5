"""The discrete-event loop: conversations arrive, each turn is routed by a router and runs on
a simulated worker; a prober reads the workers' gauges every second, as the gateway's does.

The gateway's own policies are driven through the real ``gateway.routing.route`` with
``WorkerView``s built the way production builds them: vLLM's gauges (running, waiting, KV
use) as of the last probe, with their age, and the gateway's in-flight count, which is
always current because the gateway changes it itself.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.sim.baselines import LlmdScorer, SessionRouter
from bench.sim.worker import EngineCost, SimWorker, WorkerClass
from bench.sim.workload import (
    Conversation,
    Request,
    WorkloadConfig,
    conversations_generate,
    prompt_tokens,
)
from gateway.routing import DEFAULT_KV_SATURATION, DEFAULT_TUNING, POLICIES, RoutingTuning, route
from gateway.types import RouteRequest, WorkerSpec, WorkerView

MODEL = "sim-model"
MODELS = frozenset({MODEL})

FAST = WorkerClass("fast", speed=1.6, max_batch=64, kv_blocks=12_000)
MEDIUM = WorkerClass("medium", speed=1.0, max_batch=48, kv_blocks=6_000)
SLOW = WorkerClass("slow", speed=0.6, max_batch=32, kv_blocks=4_000)
DEFAULT_POOL = (FAST, FAST, MEDIUM, MEDIUM, MEDIUM, MEDIUM, SLOW, SLOW)

BASELINES = ("llm-d", "llm-d@fresh", "prodstack-session")
ALL_POLICIES = (*POLICIES, *BASELINES)


@dataclass(frozen=True)
class SimConfig:
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    pool: tuple[WorkerClass, ...] = DEFAULT_POOL
    cost: EngineCost = field(default_factory=EngineCost)
    probe_interval: float = 1.0
    stale_after: float = 3.0
    kv_saturation: float = DEFAULT_KV_SATURATION  # AIPORTAL_KV_SATURATION
    warmup: float = 60.0  # requests arriving earlier are not measured
    prefix_caching: bool = True
    seed: int = 1
    tuning: RoutingTuning = DEFAULT_TUNING
    drain_limit: float = 600.0  # give up this long after the last arrival (deep overload)
    # Weights = relative speed, as an operator who knows the GPUs sets them; False leaves 1.
    weighted: bool = True


@dataclass
class RunResult:
    policy: str
    rate: float
    requests: list[Request]
    measured: list[Request]  # arrived inside the measured window
    window_bounds: tuple[float, float]
    route_calls: int
    route_seconds: float
    workers: list[SimWorker]
    unfinished: int  # measured requests still without an answer when the run gave up


class GatewayRouter:
    """The gateway's real routing code, as the proxy calls it."""

    fresh = False

    def __init__(self, policy: str, *, config: SimConfig, urls: Sequence[str]) -> None:
        self.name = policy
        self.policy = policy
        self.config = config
        self.rng = random.Random(config.seed)
        self.rotation = itertools.count()
        self.index = {url: i for i, url in enumerate(urls)}

    def pick(self, views: Sequence[WorkerView], request: Request) -> int:
        ordered = route(
            list(views),
            RouteRequest(model=MODEL, affinity_key=f"conversation-{request.conversation}"),
            policy=self.policy,
            rng=self.rng,
            stale_after=self.config.stale_after,
            kv_saturation=self.config.kv_saturation,
            tuning=self.config.tuning,
            rotation=self.rotation,
        )
        return self.index[ordered[0].url]


def router_make(policy: str, *, config: SimConfig, urls: Sequence[str]):
    """A router by name; "<gateway policy>@fresh" reads exact gauges at every decision."""
    base, _, fresh = policy.partition("@")
    if base in POLICIES and fresh in ("", "fresh"):
        router = GatewayRouter(base, config=config, urls=urls)
        router.name, router.fresh = policy, bool(fresh)
        return router
    if policy in ("llm-d", "llm-d@fresh"):
        return LlmdScorer(
            workers=len(urls), rng=random.Random(config.seed), fresh=policy == "llm-d@fresh"
        )
    if policy == "prodstack-session":
        return SessionRouter(urls=urls)
    raise ValueError(f"unknown policy {policy!r}")


_ARRIVE, _WORKER, _PROBE = 0, 1, 2


def simulate(policy: str, config: SimConfig) -> RunResult:
    workload = config.workload
    conversations = conversations_generate(workload, seed=config.seed)
    urls = [f"http://w{i}-{kind.name}:8000" for i, kind in enumerate(config.pool)]
    specs = [
        WorkerSpec(url=url, region="sim", weight=kind.speed if config.weighted else 1.0)
        for url, kind in zip(urls, config.pool, strict=True)
    ]
    router = router_make(policy, config=config, urls=urls)
    events: list[tuple[float, int, int, int, int]] = []
    sequence = itertools.count()
    requests: list[Request] = []
    inflight = [0] * len(urls)
    measure_end = workload.duration
    pending_measured = 0

    def push(at: float, kind: int, a: int = 0, b: int = 0) -> None:
        heapq.heappush(events, (at, next(sequence), kind, a, b))

    def on_first_token(request: Request, now: float) -> None:
        request.first_token = now

    def on_finish(request: Request, now: float) -> None:
        nonlocal pending_measured
        request.finished = now
        inflight[request.worker] -= 1
        if config.warmup <= request.arrival < measure_end:
            pending_measured -= 1
        conversation = conversations[request.conversation]
        following = request.turn + 1
        if following < len(conversation.turns):
            push(now + conversation.turns[following].think, _ARRIVE, conversation.cid, following)

    workers = [
        SimWorker(
            i,
            kind,
            cost=config.cost,
            prefix_caching=config.prefix_caching,
            on_first_token=on_first_token,
            on_finish=on_finish,
        )
        for i, kind in enumerate(config.pool)
    ]

    pushed = [-1] * len(workers)  # the step version each worker's pending event is for

    def reschedule(worker: SimWorker) -> None:
        at = worker.next_event()
        if at is not None and pushed[worker.index] != worker.version:
            pushed[worker.index] = worker.version
            push(at, _WORKER, worker.index, worker.version)

    probed: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(workers)
    probe_time = 0.0

    def views(now: float) -> list[WorkerView]:
        if router.fresh:
            gauges = [(w.running, w.waiting, w.kv_usage()) for w in workers]
            age = 0.0
        else:
            gauges, age = probed, now - probe_time
        return [
            WorkerView(
                spec=specs[i],
                models=MODELS,
                healthy=True,
                running=gauges[i][0],
                waiting=gauges[i][1],
                kv_usage=gauges[i][2],
                metrics_age=age,
                inflight=inflight[i],
            )
            for i in range(len(workers))
        ]

    for conversation in conversations:
        push(conversation.start, _ARRIVE, conversation.cid, 0)
    push(0.0, _PROBE)
    route_calls = 0
    route_seconds = 0.0
    now = 0.0
    while events:
        now, _, kind, a, b = heapq.heappop(events)
        if now >= measure_end and pending_measured == 0:
            break
        if now > measure_end + config.drain_limit:
            break
        if kind == _ARRIVE:
            request = _request(conversations[a], b, rid=len(requests), now=now)
            requests.append(request)
            if config.warmup <= now < measure_end:
                pending_measured += 1
            current = views(now)
            started = time.perf_counter()
            chosen = router.pick(current, request)
            route_seconds += time.perf_counter() - started
            route_calls += 1
            request.worker = chosen
            inflight[chosen] += 1
            workers[chosen].submit(request, now)
            reschedule(workers[chosen])
        elif kind == _WORKER:
            worker = workers[a]
            if worker.version == b:
                worker.fire(now)
                reschedule(worker)
        else:
            probed = [(w.running, w.waiting, w.kv_usage()) for w in workers]
            probe_time = now
            push(now + config.probe_interval, _PROBE)
    measured = [r for r in requests if config.warmup <= r.arrival < measure_end]
    return RunResult(
        policy=policy,
        rate=workload.rate,
        requests=requests,
        measured=measured,
        window_bounds=(config.warmup, measure_end),
        route_calls=route_calls,
        route_seconds=route_seconds,
        workers=workers,
        unfinished=sum(1 for r in measured if math.isnan(r.finished)),
    )


def _request(conversation: Conversation, turn: int, *, rid: int, now: float) -> Request:
    return Request(
        rid=rid,
        conversation=conversation.cid,
        turn=turn,
        system=conversation.system,
        system_tokens=conversation.system_tokens,
        prompt_tokens=prompt_tokens(conversation, turn),
        output_tokens=conversation.turns[turn].answer_tokens,
        arrival=now,
    )
