"""Where a dataset's text may be sent (its residency), for the searches and the chat that
send it to workers: embeddings of a query, reranking, passages in a prompt."""

from __future__ import annotations

from collections.abc import Iterable

import gateway


def dataset_regions(allowed_regions: str) -> frozenset[str] | None:
    """A dataset's stored ``allowed_regions`` parsed: None allows every region. A value that
    does not parse (a row written around validation) allows none: it fails closed."""
    try:
        return gateway.regions_parse(allowed_regions)
    except ValueError:
        return frozenset()


def regions_common(regions: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    """Where text from all these datasets may go: None when none restricts it, else the
    regions every one that does allows (possibly none)."""
    common: frozenset[str] | None = None
    for allowed in regions:
        if allowed is not None:
            common = allowed if common is None else common & allowed
    return common
