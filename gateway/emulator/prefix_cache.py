"""A block-hash prefix cache with LRU eviction, like vLLM's automatic prefix caching.

The prompt is cut into full blocks of ``block_size`` tokens; each block is identified by a
hash chained over every block before it, so a block only matches when the whole prefix up to
it matches. A lookup walks the chain until the first miss. As in vLLM, the last prompt token
is never served from the cache (it must be computed to produce the first output token), and
counters are in tokens: queries = prompt tokens looked up, hits = prompt tokens found.
"""

from __future__ import annotations

from collections import OrderedDict


class PrefixCache:
    def __init__(self, *, block_size: int, capacity_blocks: int, enabled: bool = True) -> None:
        self.block_size = block_size
        self.capacity_blocks = capacity_blocks
        self.enabled = enabled
        self._blocks: OrderedDict[int, None] = OrderedDict()
        self.queries = 0
        self.hits = 0

    def _chain(self, tokens: list[str]) -> list[int]:
        hashes: list[int] = []
        parent = 0
        # Only blocks strictly before the last token can be cached (see the module docstring).
        usable = max(0, len(tokens) - 1) // self.block_size
        for index in range(usable):
            block = tuple(tokens[index * self.block_size : (index + 1) * self.block_size])
            # Python's hash is salted per process, which is fine: the cache lives in memory.
            parent = hash((parent, block))
            hashes.append(parent)
        return hashes

    def lookup(self, tokens: list[str]) -> int:
        """How many leading prompt tokens are cached; counts the query and the hits."""
        if not self.enabled:
            return 0
        hit_blocks = 0
        for block_hash in self._chain(tokens):
            if block_hash not in self._blocks:
                break
            self._blocks.move_to_end(block_hash)
            hit_blocks += 1
        cached = hit_blocks * self.block_size
        self.queries += len(tokens)
        self.hits += cached
        return cached

    def insert(self, tokens: list[str]) -> None:
        """Remember a prompt's blocks once it has been prefilled, evicting the least recently
        used blocks beyond capacity."""
        if not self.enabled:
            return
        for block_hash in self._chain(tokens):
            self._blocks[block_hash] = None
            self._blocks.move_to_end(block_hash)
        while len(self._blocks) > self.capacity_blocks:
            self._blocks.popitem(last=False)

    def __len__(self) -> int:
        return len(self._blocks)
