"""A simulated vLLM worker: continuous batching, chunked prefill, a bounded KV cache.

The engine runs in steps. Each step decodes one token for every running sequence and spends
what is left of a token budget (vLLM's max_num_batched_tokens) on prefill, first come first
served; a step costs ``base + per_sequence * decoding + per_prefill_token * chunk``, divided
by the worker's speed. New requests wait (FIFO, head of line blocks, as in vLLM) until there
is a batch slot and room in the KV cache; the prefill then covers only the prompt tokens the
prefix cache does not hold.

Simulating every step would cost more than the routing under test, so the engine is fluid:
between two events (an arrival, a prefill or an answer finishing) the batch is constant, so
every sequence advances at 1 / step-time tokens per second and the prefill at chunk /
step-time; a virtual token clock tells when the next answer ends without touching the others.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bench.sim.blocks import BlockPool
from bench.sim.workload import Request

EPSILON = 1e-6  # tokens: what float rounding may leave behind


@dataclass(frozen=True)
class WorkerClass:
    name: str
    speed: float  # step-cost divisor: 1.0 is the medium GPU
    max_batch: int  # vLLM's max_num_seqs
    kv_blocks: int


@dataclass(frozen=True)
class EngineCost:
    step_base: float = 0.012  # seconds per step: weights read, scheduling
    per_sequence: float = 0.0003  # per decoding sequence in the step
    per_prefill_token: float = 0.00007  # ~14k prefill tokens/s on a medium worker
    token_budget: int = 2048  # vLLM's max_num_batched_tokens (chunked prefill)
    block_size: int = 16


class SimWorker:
    def __init__(
        self,
        index: int,
        kind: WorkerClass,
        *,
        cost: EngineCost,
        prefix_caching: bool,
        on_first_token: Callable[[Request, float], None],
        on_finish: Callable[[Request, float], None],
    ) -> None:
        self.index = index
        self.kind = kind
        self.cost = cost
        self.pool = BlockPool(
            total_blocks=kind.kv_blocks, block_size=cost.block_size, prefix_caching=prefix_caching
        )
        self.on_first_token = on_first_token
        self.on_finish = on_finish
        self.clock = 0.0  # the time up to which the state below is exact
        self.vclock = 0.0  # tokens each decoding sequence has produced since the start
        self.decoding: list[tuple[float, int, Request]] = []  # (finish vclock, rid, request)
        self.prefilling: deque[Request] = deque()
        self.backlog = 0.0  # prefill tokens left over all of self.prefilling
        self.waiting: deque[Request] = deque()
        self.version = 0  # bumped whenever the next event time may change
        # Integrated counters, for the conservation checks.
        self.decoded = 0.0
        self.prefilled = 0.0
        self.first_tokens = 0

    # --- gauges, as vLLM's /metrics would report them -----------------------------------
    @property
    def running(self) -> int:
        return len(self.decoding) + len(self.prefilling)

    def kv_usage(self) -> float:
        return self.pool.held_blocks() / self.pool.total

    # --- the fluid engine ---------------------------------------------------------------
    def _rates(self) -> tuple[float, float]:
        """(tokens per second for each decoding sequence, prefill tokens per second)."""
        cost = self.cost
        decoding = len(self.decoding)
        chunk = 0.0
        if self.prefilling:
            # At least one token, so float dust in the backlog never stalls a prefill.
            chunk = max(1.0, min(cost.token_budget - decoding, self.backlog))
        step = (
            cost.step_base + cost.per_sequence * decoding + cost.per_prefill_token * chunk
        ) / self.kind.speed
        return 1.0 / step, chunk / step

    def advance(self, now: float) -> None:
        elapsed = now - self.clock
        if elapsed <= 0:
            return
        decode_rate, prefill_rate = self._rates()
        self.vclock += elapsed * decode_rate
        self.decoded += elapsed * decode_rate * len(self.decoding)
        if self.prefilling:
            head = self.prefilling[0]
            done = min(elapsed * prefill_rate, head.prefill_left)
            head.prefill_left -= done
            self.backlog -= done
            self.prefilled += done
        self.clock = now

    def next_event(self) -> float | None:
        if not self.decoding and not self.prefilling:
            return None
        decode_rate, prefill_rate = self._rates()
        times = []
        if self.decoding:
            times.append(self.clock + max(0.0, self.decoding[0][0] - self.vclock) / decode_rate)
        if self.prefilling:
            times.append(self.clock + max(0.0, self.prefilling[0].prefill_left) / prefill_rate)
        return min(times)

    def submit(self, request: Request, now: float) -> None:
        self.advance(now)
        self.waiting.append(request)
        self._admit(now)
        self.version += 1

    def fire(self, now: float) -> None:
        """Handle whatever finished at ``now``."""
        self.advance(now)
        while self.prefilling and self.prefilling[0].prefill_left <= EPSILON:
            request = self.prefilling.popleft()
            self.backlog -= request.prefill_left
            self.prefilled += request.prefill_left
            request.prefill_left = 0.0
            if not self.prefilling:
                self.backlog = 0.0  # drop float dust
            self.first_tokens += 1
            self.on_first_token(request, now)
            if request.output_tokens <= 1:
                self._finish(request, now)
            else:
                heapq.heappush(
                    self.decoding,
                    (self.vclock + request.output_tokens - 1, request.rid, request),
                )
        while self.decoding and self.decoding[0][0] - self.vclock <= EPSILON:
            _, _, request = heapq.heappop(self.decoding)
            self._finish(request, now)
        self._admit(now)
        self.version += 1

    def _finish(self, request: Request, now: float) -> None:
        self.pool.release(request)
        self.on_finish(request, now)

    def _admit(self, now: float) -> None:
        while self.waiting and self.running < self.kind.max_batch:
            request = self.waiting[0]
            hit = self.pool.admit(request)
            if hit is None:
                return  # the KV cache is full: the queue waits for a request to end
            self.waiting.popleft()
            request.admitted = now
            request.hit_tokens = hit
            request.prefill_left = float(request.prompt_tokens - hit)
            self.backlog += request.prefill_left
            self.prefilling.append(request)
