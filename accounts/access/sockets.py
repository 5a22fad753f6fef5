"""What a pending or suspended account is told on paths that are not pages: websockets.

Pages are covered by accounts/access/middleware.py and ``/v1`` keys by ``User.may_act`` in
gateway/keys.py; the consumers call ``socket_refusal`` after their own sign-in check.
"""

from __future__ import annotations

from typing import NamedTuple

from accounts.models import User
from common.websockets import CLOSE_FORBIDDEN


class SocketRefusal(NamedTuple):
    """Accepted, then closed with ``code``, so a page can tell "your account may not act"
    apart from a network failure; the reason says which status."""

    code: int
    reason: str


def socket_refusal(user) -> SocketRefusal | None:
    """Why a signed-in user's socket must close, or None when the user may act."""
    if getattr(user, "may_act", False):
        return None
    if getattr(user, "status", None) == User.Status.PENDING:
        return SocketRefusal(CLOSE_FORBIDDEN, "account pending approval")
    return SocketRefusal(CLOSE_FORBIDDEN, "account suspended")
