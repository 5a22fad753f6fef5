"""The emulated engine's bookkeeping: the queue, the running batch, the KV cache, the
prefix cache, the counters of /emulator/state and the Prometheus metrics.

Who waits, who runs, what the prefix cache holds and who gets preempted is decided by the
behaviour model shared with the routing simulator (``gateway.emulator.model``): one KV block
pool for running and cached blocks, admission held back while the blocks are short, the
newest request preempted when a decode cannot get a block. How long things take stays the
emulator's latency model (``latency.py``), paid in real time by the HTTP layer.

The HTTP layer drives one ``Ticket`` per request through ``open`` → ``admit`` →
``first_token`` → ``token``… → ``close``, with ``readmit`` when a token preempted it.
Everything runs on one event loop, so plain attributes are enough.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from . import model
from .cache_info import CacheConfigCollector
from .config import EmulatorConfig
from .metrics import EmulatorMetrics, GaugeValues

# How a request ended: vLLM's finished reasons, plus the two the emulator adds for state:
# "error" (an injected in-band error) and "died" (an injected crash).
Outcome = Literal["stop", "length", "abort", "error", "died"]

# The emulator ends requests itself (stop strings, max_tokens, faults), so the model is told
# the answer is unbounded and learns of the end from ``close``.
UNBOUNDED = 1 << 62


def block_hasher(tokens: Sequence[str], block_size: int) -> Callable[[int], Hashable]:
    """Block ``i``'s hash, chained over every block before it (vLLM's block hashes), so a
    block only matches when the whole prefix up to it matches. Computed on demand."""
    hashes: list[int] = []

    def block_hash(index: int) -> Hashable:
        while len(hashes) <= index:
            start = len(hashes) * block_size
            parent = hashes[-1] if hashes else 0
            # Python's hash is salted per process, which is fine: the cache lives in memory.
            hashes.append(hash((parent, tuple(tokens[start : start + block_size]))))
        return hashes[index]

    return block_hash


@dataclass(eq=False)
class Ticket:
    prompt_tokens: list[str]
    seq: model.Sequence
    arrival: float = field(default_factory=time.monotonic)
    admitted: bool = False
    admitted_at: float | None = None
    preempted: bool = False  # lost its KV to an older request: waits to be recomputed
    first_token_at: float | None = None
    last_token_at: float | None = None
    generated: int = 0
    cached_tokens: int = 0
    closed: bool = False
    wake: asyncio.Future[None] | None = None
    # Aborted because its client left: vLLM 0.34 keeps it out of the finished requests'
    # metrics (request_success, the latency histograms).
    cancelled: bool = False


class Engine:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.latency = config.latency
        self.model = model.EngineModel(
            model.EngineLimits(
                num_blocks=config.kv_cache_blocks,
                block_size=config.block_size,
                max_num_seqs=config.latency.max_concurrency,
                prefix_caching=config.prefix_caching,
            )
        )
        self.metrics = EmulatorMetrics(
            model_name=config.metrics_model_name,
            old_names=config.old_metric_names,
            read_gauges=self.gauges,
            engines=config.data_parallel_size,
            current=config.current,
        )
        self.metrics.registry.register(CacheConfigCollector(config))  # vllm:cache_config_info
        self.started = 0
        self.completed = 0
        self.aborted = 0
        self.failed = 0
        self.poisoned = 0  # refused with a 500: input the worker cannot process
        self.prefix_queries = 0
        self.prefix_hits = 0

    @property
    def unfinished(self) -> int:
        """Requests opened and not closed yet (running, waiting, or about to wait)."""
        return self.started - self.completed - self.aborted - self.failed

    @property
    def running(self) -> int:
        return len(self.model.running)

    # --- what /metrics, /emulator/state and the ORCA header read ---------------------------

    def kv_cache_usage(self) -> float:
        return self.model.pool.usage()

    def gauges(self) -> GaugeValues:
        return GaugeValues(
            running=len(self.model.running),
            waiting=len(self.model.waiting),
            kv_cache_usage=self.kv_cache_usage(),
        )

    def state(self) -> dict[str, int | float]:
        return {
            "started": self.started,
            "running": len(self.model.running),
            "waiting": len(self.model.waiting),
            "completed": self.completed,
            "aborted": self.aborted,
            "failed": self.failed,
            "poisoned": self.poisoned,
            "kv_cache_usage": round(self.kv_cache_usage(), 6),
            "prefix_cache_queries": self.prefix_queries,
            "prefix_cache_hits": self.prefix_hits,
            "preemptions": self.model.preemptions,
        }

    # --- a request's life -------------------------------------------------------------------

    def open(self, prompt_tokens: list[str], answer_tokens: Sequence[str] = ()) -> Ticket:
        """``answer_tokens``: the answer planned for it, whose blocks get cached as they
        fill (a conversation's next turn then hits its previous answer)."""
        self.started += 1
        seq = model.Sequence(
            prompt_tokens=len(prompt_tokens),
            max_tokens=UNBOUNDED,
            block_hash=block_hasher([*prompt_tokens, *answer_tokens], self.config.block_size),
        )
        ticket = Ticket(prompt_tokens=prompt_tokens, seq=seq)
        seq.owner = ticket
        return ticket

    async def admit(self, ticket: Ticket) -> None:
        """Wait (FIFO) until the batch has a slot and the KV cache the blocks for the whole
        prompt, then take what the prefix cache holds of it."""
        self.model.add(ticket.seq)
        await self._admitted(ticket)
        if self.model.limits.prefix_caching:
            self.prefix_queries += len(ticket.prompt_tokens)
            self.prefix_hits += ticket.cached_tokens
            self.metrics.prefix_cache_queries.inc(len(ticket.prompt_tokens))
            self.metrics.prefix_cache_hits.inc(ticket.cached_tokens)

    async def readmit(self, ticket: Ticket) -> None:
        """A preempted request waits at the head of the queue to be admitted again."""
        await self._admitted(ticket)

    async def _admitted(self, ticket: Ticket) -> None:
        self._schedule()
        if ticket.admitted:
            return
        ticket.wake = asyncio.get_running_loop().create_future()
        await ticket.wake  # close() takes a cancelled waiter out of the queue

    def _schedule(self) -> None:
        for seq in self.model.admit():
            ticket: Ticket = seq.owner
            ticket.admitted = True
            if ticket.admitted_at is None:
                ticket.admitted_at = time.monotonic()  # the queue time ends at the first
            ticket.cached_tokens = seq.last_hit
            if ticket.wake is not None and not ticket.wake.done():
                ticket.wake.set_result(None)

    def ttft_seconds(self, ticket: Ticket) -> float:
        return self.latency.ttft_seconds(
            uncached_prompt_tokens=len(ticket.prompt_tokens) - ticket.cached_tokens,
            running=len(self.model.running),
        )

    def recompute_seconds(self, ticket: Ticket) -> float:
        """A readmitted request prefills its prompt and answer so far, less the cache hit."""
        ticket.preempted = False
        return self.latency.ttft_seconds(
            uncached_prompt_tokens=ticket.seq.num_tokens - ticket.cached_tokens,
            running=len(self.model.running),
        )

    def inter_token_seconds(self) -> float:
        return self.latency.inter_token_seconds(running=len(self.model.running))

    def first_token(self, ticket: Ticket) -> None:
        now = time.monotonic()
        ticket.first_token_at = now
        ticket.last_token_at = now
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
        for seq in self.model.append(ticket.seq):
            victim: Ticket = seq.owner
            victim.admitted = False
            victim.preempted = True
            self.metrics.num_preemptions.inc()

    def close(self, ticket: Ticket, outcome: Outcome) -> None:
        """Idempotent: the HTTP layer calls it from a ``finally`` whatever happened."""
        if ticket.closed:
            return
        ticket.closed = True
        self.model.finish(ticket.seq)
        ticket.admitted = False
        self._schedule()  # its blocks and its slot may let the queue move
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
