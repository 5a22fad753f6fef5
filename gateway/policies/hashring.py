"""A consistent-hash ring with virtual nodes, built once per set of workers and cached.

Each worker owns ``round(vnodes * weight)`` points on a 64-bit ring (at least one); a key
belongs to the first point clockwise from its own hash. Adding or removing one worker moves
only the keys that land on its points, about 1/n of them, so conversations elsewhere keep
their warm prefix cache.

Hashes are blake2b, not Python's ``hash()``: that one is salted per process, and every web
process (and every restart) must send a conversation to the same worker.

State: ``_rings``, the rings built, per process: a bounded memo keyed by the members and
vnodes, so never stale and never reset.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from collections.abc import Iterator

_RING_CACHE_SIZE = 16  # distinct worker sets seen recently (pool changes are rare)


def stable_hash(value: str) -> int:
    """A 64-bit hash that is the same in every process and on every run."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


class HashRing:
    __slots__ = ("owners", "points", "urls")

    def __init__(self, members: tuple[tuple[str, float], ...], *, vnodes: int) -> None:
        # (url, weight) pairs, sorted by url so the same set always builds the same ring.
        self.urls = tuple(url for url, _ in members)
        placed: list[tuple[int, int]] = []
        for index, (url, weight) in enumerate(members):
            for replica in range(max(1, round(vnodes * weight))):
                placed.append((stable_hash(f"{url}#{replica}"), index))
        placed.sort()
        self.points = [point for point, _ in placed]
        self.owners = [index for _, index in placed]

    def walk(self, key: str) -> Iterator[str]:
        """Every member once, in clockwise order from the key's position."""
        points, owners, urls = self.points, self.owners, self.urls
        size = len(points)
        if not size:
            return
        start = bisect.bisect_left(points, stable_hash(key))
        seen: set[int] = set()
        for step in range(size):
            owner = owners[(start + step) % size]
            if owner not in seen:
                seen.add(owner)
                yield urls[owner]
                if len(seen) == len(urls):
                    return

    def owner(self, key: str) -> str | None:
        return next(self.walk(key), None)


_rings: OrderedDict[tuple[int, tuple[tuple[str, float], ...]], HashRing] = OrderedDict()


def ring_for(members: tuple[tuple[str, float], ...], vnodes: int) -> HashRing:
    """The ring for these (url, weight) pairs, built on first use and then reused: routing
    must not rebuild thousands of points for every request. The same set in another order
    (or with a url twice) gets the same ring."""
    ring = _rings.get((vnodes, members))
    if ring is None:
        canonical = tuple(sorted(dict(members).items()))
        ring = _rings.get((vnodes, canonical)) or HashRing(canonical, vnodes=vnodes)
        for key in {(vnodes, canonical), (vnodes, members)}:
            _rings[key] = ring
        while len(_rings) > _RING_CACHE_SIZE:
            _rings.popitem(last=False)
    return ring
