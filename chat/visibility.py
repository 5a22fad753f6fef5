"""What of an answer's metrics its reader may see. The worker that served it is an address
inside the operator's network ("10.0.3.7:8000 (gpu-3)"): only staff see it, in every payload
and frame, so that it never reaches another person's browser at all. The region is
everyone's: residency is the user's own business."""

from __future__ import annotations

from typing import Any

STAFF_ONLY_METRICS = frozenset({"worker"})


def metrics_visible(metrics: dict[str, Any] | None, *, staff: bool) -> dict[str, Any]:
    """``metrics`` as a reader may see them; a copy, never the row's own dict."""
    if not metrics:
        return {}
    if staff:
        return dict(metrics)
    return {key: value for key, value in metrics.items() if key not in STAFF_ONLY_METRICS}


def user_is_staff(user: Any) -> bool:
    """Staff, and active: an anonymous or missing user is not."""
    return bool(getattr(user, "is_staff", False) and getattr(user, "is_active", True))
