"""A simulated worker's KV cache: blocks held by running requests plus an LRU prefix cache.

vLLM keeps one pool of KV blocks. A running request holds its blocks; when it finishes they
stay cached (automatic prefix caching) until the space is needed, least recently used first,
and a request's blocks are freed tail first so that shared prefixes outlive the tails.

Simulating every block hash would cost more than the routing being measured, so blocks are
kept per *chain*: the simulated prompts are append-only (a system prompt shared by many
conversations, then one conversation's turns), so what a worker caches of a chain is always
a prefix of it, described by one length. Eviction cuts the least recently used chain from its
tail, which is what vLLM's reverse-order freeing does block by block.

Two simplifications, both conservative for every policy alike: a request reserves the blocks
for its whole answer when it is admitted (vLLM grows them as it decodes, and preempts when
it runs out), and a chain in use by a running request is not evicted at all.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from bench.sim.workload import Request


class BlockPool:
    def __init__(self, *, total_blocks: int, block_size: int, prefix_caching: bool) -> None:
        self.total = total_blocks
        self.block_size = block_size
        self.prefix_caching = prefix_caching
        self.used = 0  # blocks cached or held
        self.length: dict[int, int] = {}  # chain owner -> cached prefix length in blocks
        self.pins: dict[int, int] = {}  # chain owner -> running requests using it
        self.lru: OrderedDict[int, None] = OrderedDict()  # unpinned chains, oldest first
        self.private: dict[int, int] = {}  # request id -> blocks (prefix caching off)
        self.query_tokens = 0
        self.hit_tokens = 0

    # Owners: a system prompt's chain is negative, a conversation's is its id.
    @staticmethod
    def _owners(request: Request) -> tuple[int, int]:
        return -(request.system + 1), request.conversation

    def admit(self, request: Request) -> int | None:
        """Reserve the request's blocks; return how many prompt tokens were cached, or None
        when the pool cannot hold it now (it waits, as vLLM's scheduler makes it)."""
        size = self.block_size
        total_blocks = math.ceil((request.prompt_tokens + request.output_tokens) / size)
        if not self.prefix_caching:
            if not self._evict_until(total_blocks):
                return None
            self.used += total_blocks
            self.private[request.rid] = total_blocks
            self.query_tokens += request.prompt_tokens
            return 0
        sys_owner, conv_owner = self._owners(request)
        sys_blocks = min(request.system_tokens // size, total_blocks)
        conv_blocks = total_blocks - sys_blocks
        usable = (request.prompt_tokens - 1) // size  # the last prompt token is always computed
        sys_cached = self.length.get(sys_owner, 0)
        conv_cached = self.length.get(conv_owner, 0)
        hit = min(sys_cached, sys_blocks, usable)
        if hit == min(sys_blocks, usable) and usable > sys_blocks:
            hit += min(conv_cached, usable - sys_blocks)
        need = max(0, sys_blocks - sys_cached) + max(0, conv_blocks - conv_cached)
        # Pin first: the eviction below must not take the blocks this request is reusing.
        self._pin(sys_owner)
        self._pin(conv_owner)
        if not self._evict_until(need):
            self._unpin(sys_owner)
            self._unpin(conv_owner)
            return None
        if sys_blocks:
            self.length[sys_owner] = max(sys_cached, sys_blocks)
        self.length[conv_owner] = max(conv_cached, conv_blocks)
        self.used += need
        self.query_tokens += request.prompt_tokens
        self.hit_tokens += hit * size
        return hit * size

    def release(self, request: Request) -> None:
        if not self.prefix_caching:
            self.used -= self.private.pop(request.rid)
            return
        sys_owner, conv_owner = self._owners(request)
        # Only full blocks are cached: the answer's last, partly filled block is freed.
        size = self.block_size
        full = (request.prompt_tokens + request.output_tokens) // size
        conv_full = max(0, full - min(request.system_tokens // size, full))
        surplus = self.length.get(conv_owner, 0) - conv_full
        if surplus > 0:
            self.length[conv_owner] = conv_full
            self.used -= surplus
        self._unpin(sys_owner)
        self._unpin(conv_owner)

    def held_blocks(self) -> int:
        """Blocks held by running requests, what vLLM's kv_cache_usage_perc reports."""
        if not self.prefix_caching:
            return self.used
        return sum(self.length.get(owner, 0) for owner in self.pins)

    def _pin(self, owner: int) -> None:
        count = self.pins.get(owner, 0)
        if count == 0:
            self.lru.pop(owner, None)
        self.pins[owner] = count + 1

    def _unpin(self, owner: int) -> None:
        count = self.pins[owner] - 1
        if count:
            self.pins[owner] = count
            return
        del self.pins[owner]
        if self.length.get(owner, 0) > 0:
            self.lru[owner] = None  # most recently used end
        else:
            self.length.pop(owner, None)

    def _evict_until(self, need: int) -> bool:
        while self.total - self.used < need:
            if not self.lru:
                return False
            owner = next(iter(self.lru))
            cut = min(self.length[owner], need - (self.total - self.used))
            self.length[owner] -= cut
            self.used -= cut
            if self.length[owner] == 0:
                del self.lru[owner]
                del self.length[owner]
        return True
