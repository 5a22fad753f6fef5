from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime


class GatewayError(Exception):
    """A request the gateway could not serve. ``code`` is stable and shown to clients;
    ``retryable`` tells the caller whether the same request may succeed later."""

    def __init__(self, code: str, detail: str, *, retryable: bool, status: int = 503) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retryable = retryable
        self.status = status


class NoWorkers(GatewayError):
    def __init__(self, detail: str = "No model worker is configured.") -> None:
        super().__init__("no_workers", detail, retryable=False, status=503)


class ModelUnavailable(GatewayError):
    def __init__(self, model: str) -> None:
        super().__init__(
            "model_unavailable",
            f"No healthy worker serves the model {model!r} right now. Try again shortly.",
            retryable=True,
            status=503,
        )


class UpstreamFailed(GatewayError):
    """No worker could finish the answer. ``partial`` is True when part of it was already
    delivered (the chat marks such a message interrupted)."""

    def __init__(self, detail: str, *, partial: bool = False) -> None:
        super().__init__("upstream_failed", detail, retryable=True, status=502)
        self.partial = partial


class RequestUnprocessable(GatewayError):
    """Two workers failed on the same request with an error of their own (a 500, an error
    frame): a failure that follows the request from worker to worker is the request's, and
    the same request would fail again. 422, not 5xx, so that clients (the OpenAI SDKs retry
    every 5xx) do not send it again unchanged; no worker's circuit counts it
    (gateway/dispatch.py)."""

    def __init__(self, *, partial: bool = False) -> None:
        super().__init__(
            "request_unprocessable",
            "Two model workers failed on this request in the same way, so it is most likely "
            "the request itself (its text or parameters) that they cannot process. Change it "
            "before trying again.",
            retryable=False,
            status=422,
        )
        self.partial = partial


class WorkersBusy(GatewayError):
    """Every worker tried answered 503, vLLM's "my queue is full": nothing is wrong, the
    pool is at capacity. ``retry_after`` (seconds) goes out as ``Retry-After``."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1.0, float(retry_after))
        super().__init__(
            "workers_busy",
            "Every model worker is busy right now. Try again in a few seconds.",
            retryable=True,
            status=503,
        )


class UpstreamRejected(GatewayError):
    """The worker refused the request itself (4xx): trying another worker would not help."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__("upstream_rejected", detail, retryable=False, status=status)


class DeadlineExceeded(GatewayError):
    """The request ran past AIPORTAL_REQUEST_DEADLINE (first token, failovers and
    continuations included)."""

    def __init__(self, detail: str = "The answer took longer than the gateway allows.") -> None:
        super().__init__("deadline_exceeded", detail, retryable=False, status=504)


class RateLimited(GatewayError):
    """Too many streams at once for this user, or every allowed worker stayed saturated for
    the whole queueing time. ``retry_after`` (seconds) goes out as ``Retry-After``."""

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        self.retry_after = max(1.0, float(retry_after))
        super().__init__(
            "rate_limited",
            detail or f"Too many requests. Try again in {round(self.retry_after)} s.",
            retryable=True,
            status=429,
        )


class OverRateLimit(RateLimited):
    """A per-minute limit (gateway/rate_limits.py) has no room for this request: ``kind`` is
    "requests" or "tokens", ``scope`` "key" (the API key's own) or "user". Its own code,
    OpenAI's ``rate_limit_exceeded``, so a client tells it from too many streams at once."""

    def __init__(self, *, kind: str, scope: str, limit: int, retry_after: float) -> None:
        self.kind, self.scope, self.limit = kind, scope, limit
        whose = "This API key" if scope == "key" else "You"
        what = "requests" if kind == "requests" else "tokens"
        super().__init__(
            retry_after,
            f"{whose} may use {limit} {what} per minute, and that is used up. "
            f"Try again in {math.ceil(max(1.0, retry_after))} s.",
        )
        self.code = "rate_limit_exceeded"


class PoliciesChanging(GatewayError):
    """The access rules changed under every try to admit the request (gateway/callers.py,
    ``POLICY_ATTEMPTS``): nothing went upstream, and a retry a moment later is admitted."""

    retry_after = 1.0

    def __init__(self) -> None:
        super().__init__(
            "policies_changed",
            "Access rules changed while the request was being admitted. Try again.",
            retryable=True,
        )


class OverBudget(GatewayError):
    """The user's (or one of their groups') daily token budget is spent; it refills at
    ``resets_at`` (the next midnight UTC)."""

    def __init__(self, resets_at: datetime, detail: str | None = None) -> None:
        self.resets_at = resets_at
        super().__init__(
            "over_budget",
            detail
            or f"The daily token budget is used up. It resets at {resets_at:%Y-%m-%d %H:%M} UTC.",
            retryable=True,
            status=429,
        )

    @property
    def retry_after(self) -> float:
        return max(1.0, (self.resets_at - datetime.now(UTC)).total_seconds())


class ModelForbidden(GatewayError):
    """The model exists but is not open to this user. 404 so a model's existence is not
    disclosed to someone who may not use it."""

    def __init__(self, model: str) -> None:
        super().__init__(
            "model_not_found",
            f"The model {model!r} does not exist or you do not have access to it.",
            retryable=False,
            status=404,
        )


class EmbeddingModelUnset(GatewayError):
    """Texts were to be embedded but the deployment names no embedding model
    (AIPORTAL_EMBEDDING_MODEL): a setting to fix, not a moment to wait out."""

    def __init__(self) -> None:
        super().__init__(
            "embedding_model_unset",
            "No embedding model is configured: set AIPORTAL_EMBEDDING_MODEL to a model the "
            "workers serve.",
            retryable=False,
            status=503,
        )


class RegionUnavailable(GatewayError):
    """No worker in the regions this request may use can serve it now. Residency is a hard
    constraint: the gateway never answers from another region instead."""

    def __init__(self, model: str, regions: Iterable[str]) -> None:
        listed = ", ".join(sorted(regions)) or "none"
        super().__init__(
            "region_unavailable",
            f"No worker for {model!r} is available in your allowed regions ({listed}).",
            retryable=True,
            status=503,
        )
