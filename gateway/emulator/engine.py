"""The emulated engine's bookkeeping: the queue, the running batch, the KV cache, the
prefix cache, the counters of /emulator/state and the Prometheus metrics.

The HTTP layer drives one ``Ticket`` per request through ``open`` → ``admit`` →
``first_token`` → ``token``… → ``close``. Everything runs on one event loop, so plain
attributes are enough; the only waiting is for a slot in the batch.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from .cache_info import CacheConfigCollector
from .config import EmulatorConfig
from .metrics import EmulatorMetrics, GaugeValues
from .prefix_cache import PrefixCache

# How a request ended: vLLM's finished reasons, plus the two the emulator adds for state:
# "error" (an injected in-band error) and "died" (an injected crash).
Outcome = Literal["stop", "length", "abort", "error", "died"]


class Scheduler:
    """At most ``limit`` requests run; the rest wait in arrival order (FIFO, like vLLM's
    default scheduling policy)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def acquire(self) -> None:
        if self.running < self.limit and not self._waiters:
            self.running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed over just as the waiter left: pass it on.
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        # Hand the slot straight to the next waiter so that nobody can overtake the queue.
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1


@dataclass(eq=False)
class Ticket:
    prompt_tokens: list[str]
    arrival: float = field(default_factory=time.monotonic)
    admitted: bool = False
    admitted_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    generated: int = 0
    cached_tokens: int = 0
    closed: bool = False
    # Aborted because its client left: vLLM 0.34 keeps it out of the finished requests'
    # metrics (request_success, the latency histograms).
    cancelled: bool = False


class Engine:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.latency = config.latency
        self.scheduler = Scheduler(config.latency.max_concurrency)
        self.prefix_cache = PrefixCache(
            block_size=config.block_size,
            capacity_blocks=config.kv_cache_blocks,
            enabled=config.prefix_caching,
        )
        self.metrics = EmulatorMetrics(
            model_name=config.metrics_model_name,
            old_names=config.old_metric_names,
            read_gauges=self.gauges,
            engines=config.data_parallel_size,
            current=config.current,
        )
        self.metrics.registry.register(CacheConfigCollector(config))  # vllm:cache_config_info
        self._running: set[Ticket] = set()
        self.started = 0
        self.completed = 0
        self.aborted = 0
        self.failed = 0
        self.poisoned = 0  # refused with a 500: input the worker cannot process

    @property
    def unfinished(self) -> int:
        """Requests opened and not closed yet (running, waiting, or about to wait)."""
        return self.started - self.completed - self.aborted - self.failed

    # --- what /metrics, /emulator/state and the ORCA header read ---------------------------

    def kv_cache_usage(self) -> float:
        blocks = sum(
            math.ceil((len(t.prompt_tokens) + t.generated) / self.config.block_size)
            for t in self._running
        )
        return min(1.0, blocks / self.config.kv_cache_blocks)

    def gauges(self) -> GaugeValues:
        return GaugeValues(
            running=self.scheduler.running,
            waiting=self.scheduler.waiting,
            kv_cache_usage=self.kv_cache_usage(),
        )

    def state(self) -> dict[str, int | float]:
        return {
            "started": self.started,
            "running": self.scheduler.running,
            "waiting": self.scheduler.waiting,
            "completed": self.completed,
            "aborted": self.aborted,
            "failed": self.failed,
            "poisoned": self.poisoned,
            "kv_cache_usage": round(self.kv_cache_usage(), 6),
            "prefix_cache_queries": self.prefix_cache.queries,
            "prefix_cache_hits": self.prefix_cache.hits,
        }

    # --- a request's life -------------------------------------------------------------------

    def open(self, prompt_tokens: list[str]) -> Ticket:
        self.started += 1
        return Ticket(prompt_tokens=prompt_tokens)

    async def admit(self, ticket: Ticket) -> None:
        """Wait for a slot in the batch, then look the prompt up in the prefix cache."""
        await self.scheduler.acquire()
        ticket.admitted = True
        ticket.admitted_at = time.monotonic()
        self._running.add(ticket)
        ticket.cached_tokens = self.prefix_cache.lookup(ticket.prompt_tokens)
        if self.prefix_cache.enabled:
            self.metrics.prefix_cache_queries.inc(len(ticket.prompt_tokens))
            self.metrics.prefix_cache_hits.inc(ticket.cached_tokens)

    def ttft_seconds(self, ticket: Ticket) -> float:
        return self.latency.ttft_seconds(
            uncached_prompt_tokens=len(ticket.prompt_tokens) - ticket.cached_tokens,
            running=self.scheduler.running,
        )

    def inter_token_seconds(self) -> float:
        return self.latency.inter_token_seconds(running=self.scheduler.running)

    def first_token(self, ticket: Ticket) -> None:
        """Prefill is done: the prompt's blocks are now in the prefix cache."""
        now = time.monotonic()
        ticket.first_token_at = now
        ticket.last_token_at = now
        self.prefix_cache.insert(ticket.prompt_tokens)
        self.metrics.prompt_tokens.inc(len(ticket.prompt_tokens))
        self.metrics.time_to_first_token.observe(now - ticket.arrival)

    def token(self, ticket: Ticket) -> None:
        if ticket.first_token_at is None:
            self.first_token(ticket)
        else:
            now = time.monotonic()
            if ticket.last_token_at is not None:
                self.metrics.time_per_output_token.observe(now - ticket.last_token_at)
            ticket.last_token_at = now
        ticket.generated += 1
        self.metrics.generation_tokens.inc()

    def close(self, ticket: Ticket, outcome: Outcome) -> None:
        """Idempotent: the HTTP layer calls it from a ``finally`` whatever happened."""
        if ticket.closed:
            return
        ticket.closed = True
        if ticket.admitted:
            self._running.discard(ticket)
            self.scheduler.release()
        if outcome in ("stop", "length"):
            self.completed += 1
        elif outcome == "abort":
            self.aborted += 1
        else:
            self.failed += 1
        # A crashed worker reports nothing; an in-band error is not a success either.
        if outcome in self.metrics.request_success and not ticket.cancelled:
            self.metrics.request_success[outcome].inc()
            self.metrics.e2e_request_latency.observe(time.monotonic() - ticket.arrival)
            self._observe_finished(ticket)

    def _observe_finished(self, ticket: Ticket) -> None:
        """vLLM 0.34's per-request histograms of a finished request (FinishedRequestStats)."""
        if self.metrics.request_queue_time is not None and ticket.admitted_at is not None:
            self.metrics.request_queue_time.observe(ticket.admitted_at - ticket.arrival)
        if self.metrics.request_time_per_output_token is not None and ticket.generated > 1:
            assert ticket.first_token_at is not None and ticket.last_token_at is not None
            decode = ticket.last_token_at - ticket.first_token_at
            self.metrics.request_time_per_output_token.observe(decode / (ticket.generated - 1))
