"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Clients (the official SDKs among them) pick their exception class from the HTTP status and
show ``message``; ``code`` is stable and machine-readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import JsonResponse
from django.utils import timezone

from gateway.errors import GatewayError

# OpenAI's error "type" by status: its API answers bad keys and unknown models with
# invalid_request_error too; clients choose their exception by the status alone.
_TYPES = {403: "permission_error", 429: "rate_limit_error"}


@dataclass
class ApiError(Exception):
    status: int
    message: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def type(self) -> str:
        if self.status in _TYPES:
            return _TYPES[self.status]
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def error_response(error: ApiError) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, code=code, param=param)


def model_not_found(model: str) -> ApiError:
    # The same answer whether the model does not exist or the user may not use it: a user
    # learns nothing about models outside their access.
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )


def _retry_after_seconds(exc: GatewayError) -> int | None:
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float):
        return max(1, math.ceil(retry_after))
    resets_at = getattr(exc, "resets_at", None)
    if isinstance(resets_at, datetime):
        return max(1, math.ceil((resets_at - timezone.now()).total_seconds()))
    return None


def from_gateway_error(exc: GatewayError) -> ApiError:
    """The API error for a failure of the gateway core, with its own status and code."""
    status = exc.status if 400 <= getattr(exc, "status", 0) <= 599 else 503
    headers: dict[str, str] = {}
    retry_after = _retry_after_seconds(exc)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        precise = getattr(exc, "retry_after", None)
        if isinstance(precise, int | float):
            # The OpenAI SDKs read this one first: a wait under a second is not rounded up.
            headers["retry-after-ms"] = str(max(1, math.ceil(precise * 1000)))
    return ApiError(status, exc.detail, code=exc.code, headers=headers)
