"""One pool of KV-cache blocks, shared by running requests and the prefix cache.

As in vLLM v1 (vllm/v1/core/block_pool.py), every block is either held by at least one
running request (reference count > 0) or free. A free block may still carry the hash of the
full block of tokens it holds: it is then a prefix-cache entry that a later request can take
back for free, until the block is handed out again and its content evicted. Free blocks wait
in one queue, least recently freed first, and allocation takes from its head, so the cache
evicts least recently used blocks first and never needs a capacity of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence


class BlockPool:
    def __init__(self, num_blocks: int, *, caching: bool = True) -> None:
        if num_blocks < 1:
            raise ValueError("num_blocks must be >= 1")
        self.num_blocks = num_blocks
        self.caching = caching
        # The free queue: block id -> None, head evicted (reused) first.
        self._free: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))
        self._refs = [0] * num_blocks
        self._hash: list[Hashable | None] = [None] * num_blocks
        self._by_hash: dict[Hashable, int] = {}
        self.evictions = 0  # cached blocks whose content was dropped to reuse the block

    # --- what the gauges read ------------------------------------------------------------

    @property
    def free_blocks(self) -> int:
        """Blocks no running request holds, cached ones included (they are evictable)."""
        return len(self._free)

    def usage(self) -> float:
        """vLLM's kv_cache_usage_perc: the share of blocks held by running requests."""
        return 1.0 - len(self._free) / self.num_blocks

    @property
    def cached_blocks(self) -> int:
        return len(self._by_hash)

    # --- the prefix cache ----------------------------------------------------------------

    def hits(self, hashes: Iterable[Hashable]) -> list[int]:
        """The blocks holding the longest cached run of ``hashes`` from the start."""
        found: list[int] = []
        if not self.caching:
            return found
        for block_hash in hashes:
            block = self._by_hash.get(block_hash)
            if block is None:
                break
            found.append(block)
        return found

    def evictable(self, blocks: Iterable[int]) -> int:
        """How many of ``blocks`` sit in the free queue: taking them costs free space."""
        return sum(1 for block in blocks if self._refs[block] == 0)

    def touch(self, blocks: Iterable[int]) -> None:
        """A request takes cached blocks: they leave the free queue while it holds them."""
        for block in blocks:
            if self._refs[block] == 0:
                del self._free[block]
            self._refs[block] += 1

    def commit(self, block: int, block_hash: Hashable) -> None:
        """A held block is now full: remember its content for later requests. A second copy
        of a block already cached stays anonymous (vLLM keeps it uncached too)."""
        if self.caching and self._hash[block] is None and block_hash not in self._by_hash:
            self._hash[block] = block_hash
            self._by_hash[block_hash] = block

    # --- allocation ----------------------------------------------------------------------

    def allocate(self, count: int) -> list[int] | None:
        """``count`` blocks from the head of the free queue, evicting what they cached; None
        (and nothing taken) when there are not enough."""
        if count > len(self._free):
            return None
        taken: list[int] = []
        for _ in range(count):
            block, _ = self._free.popitem(last=False)
            old = self._hash[block]
            if old is not None:
                del self._by_hash[old]
                self._hash[block] = None
                self.evictions += 1
            self._refs[block] = 1
            taken.append(block)
        return taken

    def release(self, blocks: Sequence[int]) -> None:
        """A request lets its blocks go. They are freed tail first (vLLM frees a request's
        blocks in reverse), so a shared prefix outlives the tails that hang off it."""
        for block in reversed(blocks):
            self._refs[block] -= 1
            if self._refs[block] == 0:
                self._free[block] = None
