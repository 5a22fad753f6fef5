"""Sampling settings a caller inside the project may set on a chat answer (an assistant's
temperature and top_p): typed, range-checked, and turned into the request body's fields.

Checked here, at the gateway, whatever the caller validated already: a value vLLM would
refuse (or one a row written around validation holds) is a clear error before any worker is
asked, never a 400 from upstream halfway through a failover."""

from __future__ import annotations

import math
from typing import Any, TypedDict

TEMPERATURE_MAX = 2.0


class Sampling(TypedDict, total=False):
    temperature: float
    top_p: float


def sampling_body(sampling: Sampling | None) -> dict[str, Any]:
    """The body fields for ``sampling`` (only those set). Raises ValueError for an unknown
    key or a value out of range."""
    if not sampling:
        return {}
    unknown = set(sampling) - {"temperature", "top_p"}
    if unknown:
        raise ValueError(f"unknown sampling settings: {', '.join(sorted(unknown))}")
    body: dict[str, Any] = {}
    temperature = sampling.get("temperature")
    if temperature is not None:
        if not _number(temperature) or not 0 <= temperature <= TEMPERATURE_MAX:
            raise ValueError(f"temperature must be between 0 and {TEMPERATURE_MAX}")
        body["temperature"] = float(temperature)
    top_p = sampling.get("top_p")
    if top_p is not None:
        if not _number(top_p) or not 0 < top_p <= 1:
            raise ValueError("top_p must be above 0 and at most 1")
        body["top_p"] = float(top_p)
    return body


def _number(value: object) -> bool:
    # bool is an int in Python; True is not a temperature.
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]
