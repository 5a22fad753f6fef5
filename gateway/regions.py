"""Region names and lists, as policies, datasets and the chat's retrieval write them.

Pure: no Django, no database. ``regions_parse`` is the one reader of an "allowed regions"
field wherever one is stored (gateway/models/policies.py, datasets/models/datasets.py).
"""

from __future__ import annotations

import json
import re

REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def regions_parse(value: str) -> frozenset[str] | None:
    """``eu-west, eu-north`` or ``["eu-west", "eu-north"]`` → a set; blank → None (no
    restriction from this policy). Raises ValueError for anything that is not a region."""
    text = (value or "").strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ValueError("Allowed regions: not a valid JSON list.") from None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError("Allowed regions: the JSON must be a list of strings.")
    else:
        items = text.split(",")
    regions = {item.strip() for item in items if item.strip()}
    bad = sorted(region for region in regions if not REGION.match(region))
    if bad:
        raise ValueError(f"Allowed regions: {', '.join(bad)} is not a region name.")
    if not regions:
        raise ValueError("Allowed regions: list at least one region, or leave it blank.")
    return frozenset(regions)
