"""vLLM v1's scheduler, reduced to what decides who waits, who runs and what stays cached.

Read from vllm/v1/core/sched/scheduler.py (``Scheduler.schedule``) and
vllm/v1/core/kv_cache_manager.py (``get_computed_blocks``, ``allocate_slots``). One step:

1. Running requests first, oldest first. Each asks for the tokens it has not computed yet
   (one for a decode, the rest of its prompt for a chunked prefill), capped by what is left
   of the step's token budget (``max_num_batched_tokens``, shared by every request in the
   step). When the pool cannot give it the blocks those tokens need, the newest running
   request is preempted: its blocks are freed, it loses everything it computed and goes back
   to the head of the waiting queue, to be recomputed later (prefix-cache hits included).
2. Only if nobody was preempted, waiting requests in arrival order, while the batch has room
   (``max_num_seqs``) and budget is left. A request first takes the longest run of its full
   blocks that the cache holds (never its last token, which must be computed); it is
   admitted only if the blocks for its whole sequence fit in the free blocks (vLLM 0.34's
   ``scheduler_reserve_full_isl``, on by default), else it and everyone behind it wait.
3. The step runs: every request's computed tokens advance; one that has computed its whole
   sequence samples a token; a request that reaches its answer's length finishes and frees
   its blocks, which stay cached. Blocks are committed to the cache as they fill, answer
   blocks as well as prompt blocks, so a conversation's next turn hits its previous answer.

The model is pure: no clock, no I/O. The simulator calls ``step`` and charges each step's
cost; the emulator, which times requests with its own latency model, uses ``admit`` (step 2
with the whole prompt computed at once), ``append`` (a decode, preempting when out of
blocks) and ``finish``/``abort``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from .pool import BlockPool

WAITING, RUNNING, FINISHED = "waiting", "running", "finished"


@dataclass(frozen=True)
class EngineLimits:
    num_blocks: int = 4096  # the KV cache, in blocks
    block_size: int = 16  # vLLM's --block-size
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 2048  # the per-step token budget (chunked prefill)
    prefix_caching: bool = True

    def __post_init__(self) -> None:
        if min(self.num_blocks, self.block_size, self.max_num_seqs) < 1:
            raise ValueError("num_blocks, block_size and max_num_seqs must be >= 1")
        if self.max_num_batched_tokens < 1:
            raise ValueError("max_num_batched_tokens must be >= 1")


@dataclass(eq=False)
class Sequence:
    """One request inside the engine. ``block_hash(i)`` identifies the content of full block
    ``i`` of prompt + answer; it is only asked once those tokens exist."""

    prompt_tokens: int
    max_tokens: int  # the answer's length: the request finishes when it has this many
    block_hash: Callable[[int], Hashable]
    owner: Any = None  # the caller's own object (a ticket, a simulated request)
    output_tokens: int = 0
    computed: int = 0  # tokens whose KV is in the blocks below
    blocks: list[int] = field(default_factory=list)
    committed: int = 0  # leading blocks already offered to the cache
    status: str = WAITING
    hit_tokens: int | None = None  # prefix-cache hit at the first admission
    last_hit: int = 0  # ... and at the latest one (a preempted request is admitted again)
    preemptions: int = 0

    @property
    def num_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens


@dataclass
class Step:
    """What one step did; tokens are sampled at its end."""

    prefill_tokens: int = 0  # tokens computed for requests that were not decoding
    decodes: int = 0  # requests that computed exactly their last sampled token
    sampled: list[Sequence] = field(default_factory=list)  # got a token this step
    first: list[Sequence] = field(default_factory=list)  # ... and it was their first
    finished: list[Sequence] = field(default_factory=list)
    preempted: list[Sequence] = field(default_factory=list)
    admitted: list[Sequence] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        return not (self.prefill_tokens or self.decodes)


class EngineModel:
    def __init__(self, limits: EngineLimits) -> None:
        self.limits = limits
        self.pool = BlockPool(limits.num_blocks, caching=limits.prefix_caching)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.preemptions = 0
        self.query_tokens = 0  # vLLM's prefix_cache_queries: tokens looked up
        self.hit_tokens = 0  # vLLM's prefix_cache_hits: tokens found

    def add(self, seq: Sequence) -> None:
        seq.status = WAITING
        self.waiting.append(seq)

    @property
    def busy(self) -> bool:
        return bool(self.running or self.waiting)

    # --- the simulator's entry point -----------------------------------------------------

    def step(self) -> Step:
        step = Step()
        size = self.limits.block_size
        budget = self.limits.max_num_batched_tokens
        scheduled: list[tuple[Sequence, int]] = []
        running = self.running
        index = 0
        while index < len(running) and budget > 0:
            seq = running[index]
            total = seq.prompt_tokens + seq.output_tokens
            wanted = min(total - seq.computed, budget)
            # The common case, a decode that neither opens nor fills a block, needs nothing
            # from the pool (a fast path: the simulator runs millions of these).
            pool_needed = wanted != 1 or seq.computed % size == 0 or total % size == 0
            if pool_needed and not self._reserve(seq, seq.computed + wanted, step):
                break  # it preempted itself: nobody after it can be scheduled either
            scheduled.append((seq, wanted))
            budget -= wanted
            index += 1
        if not step.preempted:
            for seq in self._admit(budget):
                step.admitted.append(seq)
                wanted = min(seq.num_tokens - seq.computed, budget)
                scheduled.append((seq, wanted))
                budget -= wanted
        sampled = step.sampled
        for seq, tokens in scheduled:
            if seq.status != RUNNING:
                continue  # preempted later in the same step for an older request
            total = seq.prompt_tokens + seq.output_tokens
            if tokens == 1 and seq.output_tokens and seq.computed == total - 1:
                step.decodes += 1
            else:
                step.prefill_tokens += tokens
            seq.computed += tokens
            if seq.computed == total:
                if seq.output_tokens == 0:
                    step.first.append(seq)
                sampled.append(seq)
                self._sample(seq)
                if seq.status == FINISHED:
                    step.finished.append(seq)
        return step

    # --- fast-forward: many identical decode steps at once ------------------------------

    def steady_steps(self, limit: int) -> int:
        """How many of the next steps (at most ``limit``) are sure to be the same pure
        decode step: everyone running is decoding, nobody can be admitted, nobody finishes
        before the last of them, and the pool has the blocks they all need. 0 if the next
        step is anything else. ``decode(n)`` then does what ``n`` calls of ``step`` would."""
        running = self.running
        limits = self.limits
        if not running or len(running) > limits.max_num_batched_tokens:
            return 0
        if self.waiting and len(running) < limits.max_num_seqs:
            return 0  # someone might be admitted: take the step for real
        size = limits.block_size
        steps = limit
        for seq in running:
            total = seq.prompt_tokens + seq.output_tokens
            if seq.computed != total - 1 or not seq.output_tokens:
                return 0  # a prefill is in the step
            steps = min(steps, seq.max_tokens - seq.output_tokens)
        if steps <= 0:
            return 0
        needed = sum(
            -(-(seq.prompt_tokens + seq.output_tokens + steps - 1) // size) - len(seq.blocks)
            for seq in running
        )
        return steps if needed <= self.pool.free_blocks else 0

    def decode(self, steps: int) -> Step:
        """Run ``steps`` steps already found steady by ``steady_steps``."""
        step = Step(decodes=len(self.running) * steps)
        for seq in list(self.running):
            seq.output_tokens += steps
            tokens = seq.prompt_tokens + seq.output_tokens - 1
            self._grow(seq, tokens)
            seq.computed = tokens
            step.sampled.append(seq)
            if seq.output_tokens >= seq.max_tokens:
                self.running.remove(seq)
                self._free(seq)
                seq.status = FINISHED
                step.finished.append(seq)
        return step

    # --- the emulator's entry points -----------------------------------------------------

    def admit(self) -> list[Sequence]:
        """Admit what fits, each with its whole prompt computed (the emulator times the
        prefill itself); returns the requests admitted."""
        admitted = self._admit(None)
        for seq in admitted:
            seq.computed = seq.num_tokens
        return admitted

    def append(self, seq: Sequence) -> list[Sequence]:
        """``seq`` sampled a token; returns the requests preempted to find it a block (it
        may be one of them)."""
        if seq.status != RUNNING:
            # The emulator times each request on its own: a token already on its way when
            # the request was preempted still counts, and is recomputed with the rest.
            seq.output_tokens += 1
            return []
        step = Step()
        self._sample(seq)
        # The new token's KV is computed by the next decode: it needs its slot now.
        if seq.status == RUNNING and self._reserve(seq, seq.num_tokens, step):
            seq.computed = seq.num_tokens
        return step.preempted

    def finish(self, seq: Sequence) -> None:
        """The request ended (or was aborted) wherever it is."""
        if seq.status == WAITING:
            self.waiting.remove(seq)
        elif seq.status == RUNNING:
            self.running.remove(seq)
            self._free(seq)
        seq.status = FINISHED

    # --- the rules -----------------------------------------------------------------------

    def _admit(self, budget: int | None) -> list[Sequence]:
        limits = self.limits
        size = limits.block_size
        admitted: list[Sequence] = []
        while self.waiting and len(self.running) < limits.max_num_seqs:
            if budget is not None and budget <= 0:
                break
            seq = self.waiting[0]
            total = seq.num_tokens
            # The last token is always computed: it is what produces the next one.
            cacheable = (total - 1) // size if limits.prefix_caching else 0
            hits = self.pool.hits(seq.block_hash(i) for i in range(cacheable))
            needed = -(-total // size) - len(hits) + self.pool.evictable(hits)
            if needed > self.pool.free_blocks:
                break  # head of line: everyone behind it waits too
            self.waiting.popleft()
            self.pool.touch(hits)
            seq.blocks = list(hits)
            seq.committed = len(hits)
            seq.computed = len(hits) * size
            seq.last_hit = seq.computed
            if seq.hit_tokens is None:
                seq.hit_tokens = seq.computed
            if limits.prefix_caching:
                self.query_tokens += total
                self.hit_tokens += seq.computed
            wanted = total - seq.computed
            if budget is not None:
                wanted = min(wanted, budget)
                budget -= wanted
            seq.status = RUNNING
            self.running.append(seq)
            self._grow(seq, seq.computed + wanted)  # fits: checked for the whole sequence
            admitted.append(seq)
        return admitted

    def _reserve(self, seq: Sequence, tokens: int, step: Step) -> bool:
        """Give ``seq`` the blocks for ``tokens`` tokens, preempting the newest running
        requests until they fit; False if ``seq`` itself had to go."""
        while not self._grow(seq, tokens):
            victim = self.running.pop()
            self._preempt(victim, step)
            if victim is seq:
                return False
        return True

    def _grow(self, seq: Sequence, tokens: int) -> bool:
        size = self.limits.block_size
        missing = -(-tokens // size) - len(seq.blocks)
        if missing > 0:
            blocks = self.pool.allocate(missing)
            if blocks is None:
                return False
            seq.blocks += blocks
        # Commit the blocks whose tokens all exist (prompt or already sampled answer).
        full = min(tokens, seq.num_tokens) // size
        while seq.committed < full:
            self.pool.commit(seq.blocks[seq.committed], seq.block_hash(seq.committed))
            seq.committed += 1
        return True

    def _preempt(self, seq: Sequence, step: Step) -> None:
        self._free(seq)
        seq.computed = 0
        seq.status = WAITING
        seq.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(seq)
        step.preempted.append(seq)

    def _sample(self, seq: Sequence) -> None:
        seq.output_tokens += 1
        if seq.output_tokens >= seq.max_tokens:
            self.running.remove(seq)
            self._free(seq)
            seq.status = FINISHED

    def _free(self, seq: Sequence) -> None:
        self.pool.release(seq.blocks)
        seq.blocks = []
        seq.committed = 0
