"""One id per request, from the gateway's door to the worker and back (docs/gateway/api.md).

The id is set once where a request enters the gateway (a ``/v1`` view, a chat answer) and
read wherever the request goes: every attempt sends it upstream as ``X-Request-Id`` (vLLM
uses it as its own request id, so the worker's logs and response ids carry it), the usage
record stores it, and the gateway's log lines for the request end with it. A context
variable carries it, so the proxy and its attempts need no extra argument: asyncio copies
the context into every task the request starts.

A client's own ``X-Request-Id`` is kept on ``/v1`` when it is a short, safe token (it lands
in log lines and in the worker's headers, so no spaces, quotes or control characters);
anything else is replaced by a new id, never refused: an id is a tracing aid, not a reason
to fail a request.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-Id"
MAX_CHARS = 64
_SAFE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_CHARS - 1}}}")

_CURRENT: ContextVar[str] = ContextVar("gateway_request_id", default="")


def request_id_new() -> str:
    # uuid4 hex: what vLLM's own middleware generates when a request brings none.
    return uuid.uuid4().hex


def request_id_accept(value: str | None) -> str:
    """The client's id when it is a safe short token, else a new one."""
    if value and _SAFE.fullmatch(value):
        return value
    return request_id_new()


def request_id_start(value: str | None = None) -> str:
    """Make ``value`` (or a new id) the current request's id; returns it."""
    request_id = value or request_id_new()
    _CURRENT.set(request_id)
    return request_id


def request_id_current() -> str:
    """The current request's id, "" outside a request."""
    return _CURRENT.get()


class RequestIdLogFilter(logging.Filter):
    """Ends the gateway's log lines made during a request with its id, so an operator finds
    every line of one request, and the worker's, with one grep."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _CURRENT.get()
        if request_id and record.name.startswith("gateway") and not hasattr(record, "request_id"):
            record.request_id = request_id
            record.msg = f"{record.getMessage()} [request {request_id}]"
            record.args = None
        return True


def request_id_logging_install() -> None:
    """Put the filter on the root logger's handlers (configured by settings.LOGGING)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdLogFilter) for f in handler.filters):
            handler.addFilter(RequestIdLogFilter())
