"""What every websocket of the portal shares: channels' session and user middleware off
Django's one shared sync thread, the base class of our consumers, the close codes a page
reads, and the names of the channel-layer groups more than one app sends to.

``channels.auth.AuthMiddleware`` loads the session and the user through
``database_sync_to_async`` with its default, ``thread_sensitive=True``: every websocket
connect of a process then waits in one queue behind every sync page view the process is
rendering (Django runs those on that same thread). Under load (bench/soak.py, sessions that
reload their pages) sockets took seconds to open. The read is self-contained, so it runs in
the executor's threads like the chat consumer's own database calls.
"""

from __future__ import annotations

from typing import Any, Protocol

from channels.auth import AuthMiddleware, get_user
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.sessions import CookieMiddleware, SessionMiddleware

# Close codes a page acts on (static/js reads them): 4401 asks the person to sign in again;
# 4403 says the account may not use the portal now (pending approval, suspended) or the
# socket's page is no longer theirs (demoted from staff).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


# The ASGI extension (in a websocket's ``scope["extensions"]``) by which our Daphne
# (aiportal/serve.py) sends one text to many sockets framed once: see ``SharedTextSender``.
SHARED_TEXT_EXTENSION = "aiportal.websocket.shared_text"


class SharedTextSender(Protocol):
    """Sends a text message on one socket, straight to its connection. The same text
    object sent to several sockets in a row is framed once for all of them (autobahn's
    prepared messages), and none of them goes through the ASGI send chain (channels'
    session wrapper, Daphne's reply dispatch, the framing of each copy). A streamed delta
    reaches every socket of a conversation this way."""

    def send_text(self, text: str) -> bool:
        """False when the socket is not open (closing, closed): nothing was sent."""
        ...


def shared_text_sender(scope: dict[str, Any]) -> SharedTextSender | None:
    """The socket's sender when its server offers one (ours does; a test communicator or
    another ASGI server does not: then frames go through ``send`` as usual)."""
    extension = scope.get("extensions", {}).get(SHARED_TEXT_EXTENSION)
    return extension.get("sender") if isinstance(extension, dict) else None


def access_group(user_id: int) -> str:
    """Every websocket of a user listens here for ``accounts.access_changed``
    (accounts/access/live.py sends it when a sign-out, password change or suspension lands)."""
    return f"accounts.user.{user_id}"


def datasets_group(user_id: int) -> str:
    """Every page of a user listens here for ``datasets.changed``: grants, datasets."""
    return f"datasets.user.{user_id}"


_user_for_scope = database_sync_to_async(get_user.func, thread_sensitive=False)


# channels ships no types: its classes are Any to mypy, and subclassing them is on purpose.
class UserMiddleware(AuthMiddleware):  # type: ignore[misc]
    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        scope["user"]._wrapped = await _user_for_scope(scope)


def SessionAuthStack(inner: Any) -> Any:
    return CookieMiddleware(SessionMiddleware(UserMiddleware(inner)))


class WebsocketConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """The base of our websocket consumers: channels' dispatch without its hop to Django's
    shared sync thread.

    channels (4.2+) calls ``close_old_connections`` through ``sync_to_async`` (thread
    sensitive) before handling every message: every frame a page sends and every event the
    channel layer delivers (each streamed delta) then queues on the one thread that also
    renders the process's sync page views. Our consumers never touch the database on that
    thread: each of their reads and writes goes through ``database_sync_to_async``, which
    closes old connections in the thread it runs in, before and after. So the hop only
    costs; it is left out.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
