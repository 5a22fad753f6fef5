"""Two routers from other projects, written here from their public descriptions, to compare
against: llm-d's default scheduling profile and vLLM production-stack's session router.

- llm-d (its endpoint picker, the Gateway API Inference Extension): every candidate gets a
  weighted sum of scores in [0, 1] and the highest wins (ties at random):
  queue-scorer (weight 2): (max waiting - own waiting) / (max - min), 1 when all are equal;
  kv-cache-utilization-scorer (weight 2): 1 - KV-cache use;
  prefix-cache-scorer (weight 3): the share of the prompt's blocks (64 characters, ~16
  tokens, the first block standing for the model, at most 256) that the router has itself
  sent to that worker recently: an approximate per-worker index, an LRU of 31,250 blocks,
  updated with the prompt of every request it routes.
  It reads the queue and KV gauges from scraped metrics, like our gateway; the simulator runs
  it with the same 1 s probe as ours and, as "llm-d@fresh", with exact gauges at every
  decision (what its 50 ms scrape approaches).
- production-stack's session router: consistent hashing of the session id over the workers
  (a hash ring with 160 points per worker, as uhashring makes), no load awareness at all.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence

from bench.sim.workload import Request
from gateway.policies.hashring import HashRing
from gateway.types import WorkerView

LLMD_HASH_BLOCK_TOKENS = 16  # 64 characters at ~4 characters per token
LLMD_MAX_PREFIX_BLOCKS = 256
LLMD_LRU_BLOCKS_PER_SERVER = 31_250
LLMD_WEIGHTS = (2.0, 2.0, 3.0)  # queue, kv-cache utilisation, prefix cache


class _PrefixIndex:
    """What llm-d's router believes one worker caches: the prompts it sent there, by chain,
    least recently used dropped first (from their tails) beyond the capacity."""

    def __init__(self, *, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self.length: OrderedDict[int, int] = OrderedDict()

    def match(self, system: int, system_blocks: int, conversation: int, blocks: int) -> int:
        sys_owner = -(system + 1)
        cached = min(self.length.get(sys_owner, 0), system_blocks, blocks)
        if cached == min(system_blocks, blocks) and blocks > system_blocks:
            cached += min(self.length.get(conversation, 0), blocks - system_blocks)
        return cached

    def add(self, system: int, system_blocks: int, conversation: int, blocks: int) -> None:
        for owner, length in (
            (-(system + 1), min(system_blocks, blocks)),
            (conversation, blocks - min(system_blocks, blocks)),
        ):
            if length <= 0:
                continue
            old = self.length.pop(owner, 0)
            self.length[owner] = max(old, length)
            self.size += max(old, length) - old
        while self.size > self.capacity:
            owner, length = next(iter(self.length.items()))
            cut = min(length, self.size - self.capacity)
            self.size -= cut
            if cut == length:
                del self.length[owner]
            else:
                self.length[owner] = length - cut


class LlmdScorer:
    name = "llm-d"

    def __init__(self, *, workers: int, rng: random.Random, fresh: bool = False) -> None:
        self.rng = rng
        self.fresh = fresh
        if fresh:
            self.name = "llm-d@fresh"
        self.indexes = [_PrefixIndex(capacity=LLMD_LRU_BLOCKS_PER_SERVER) for _ in range(workers)]
        self.seen = [False] * workers  # the model's own first block

    def pick(self, views: Sequence[WorkerView], request: Request) -> int:
        blocks = min(request.prompt_tokens // LLMD_HASH_BLOCK_TOKENS, LLMD_MAX_PREFIX_BLOCKS)
        system_blocks = request.system_tokens // LLMD_HASH_BLOCK_TOKENS
        total = blocks + 1
        waits = [view.waiting for view in views]
        low, high = min(waits), max(waits)
        w_queue, w_kv, w_prefix = LLMD_WEIGHTS
        best: list[int] = []
        best_score = -1.0
        for i, view in enumerate(views):
            queue = 1.0 if high == low else (high - view.waiting) / (high - low)
            matched = 0
            if self.seen[i]:
                matched = 1 + self.indexes[i].match(
                    request.system, system_blocks, request.conversation, blocks
                )
            score = w_queue * queue + w_kv * (1.0 - view.kv_usage) + w_prefix * matched / total
            if score > best_score + 1e-12:
                best, best_score = [i], score
            elif abs(score - best_score) <= 1e-12:
                best.append(i)
        chosen = best[0] if len(best) == 1 else self.rng.choice(best)
        self.seen[chosen] = True
        self.indexes[chosen].add(request.system, system_blocks, request.conversation, blocks)
        return chosen


class SessionRouter:
    name = "prodstack-session"
    fresh = False

    def __init__(self, *, urls: Sequence[str]) -> None:
        self.ring = HashRing(tuple((url, 1.0) for url in sorted(urls)), vnodes=160)
        self.index = {url: i for i, url in enumerate(urls)}

    def pick(self, views: Sequence[WorkerView], request: Request) -> int:
        return self.index[self.ring.owner(f"conversation-{request.conversation}")]
