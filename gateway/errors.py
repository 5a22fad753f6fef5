from __future__ import annotations


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
    def __init__(self, detail: str) -> None:
        super().__init__("upstream_failed", detail, retryable=True, status=502)


class UpstreamRejected(GatewayError):
    """The worker refused the request itself (4xx): trying another worker would not help."""

    def __init__(self, detail: str, status: int) -> None:
        super().__init__("upstream_rejected", detail, retryable=False, status=status)
