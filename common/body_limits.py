"""How large a request body may be, by the kind of path it is sent to.

The web server reads and stores a whole request body before the application sees any of it
(Daphne's Twisted request spools anything over 100 kB to a temporary file), so the cap has
to be applied while the body arrives, before authentication: aiportal/serve.py refuses a
declared Content-Length over the cap with a 413 before reading a byte of the body, and stops
reading a body without one (chunked) once it passes the cap. The edge (compose/Caddyfile)
applies the same classes first; this is the web process's own line, for deployments without
that edge and for anything that reaches a web process directly.

- ``/v1/``: ``AIPORTAL_API_MAX_BODY_BYTES`` (the API's own cap, also checked by the view).
- upload pages and the chat's attachment upload: ``AIPORTAL_UPLOAD_MAX_REQUEST_BYTES``
  (several files in one form; each file's own limit is the upload code's,
  datasets/sources/uploads.py and chat/services/attachments.py).
- everything else (sign-in and every other form, the chat's JSON endpoints, admin):
  ``AIPORTAL_MAX_BODY_BYTES``.

``body_capped`` applies the same caps at the ASGI level (aiportal/asgi.py), for servers
that hand a body to the application as it arrives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

# ASGI's shapes, as loose as the servers and channels hand them over.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The pages that take files: a multipart body of several of them.
UPLOAD_PATHS = (re.compile(r"/datasets/\d+/upload/"), re.compile(r"/chat/attachments/"))


def upload_path(path: str) -> bool:
    return any(pattern.fullmatch(path) for pattern in UPLOAD_PATHS)


def body_cap_for(path: str) -> int:
    """The largest request body, in bytes, accepted for ``path`` (decoded, no query)."""
    cap: int
    if path.startswith("/v1/"):
        cap = settings.AIPORTAL_API_MAX_BODY_BYTES
    elif upload_path(path):
        cap = settings.AIPORTAL_UPLOAD_MAX_REQUEST_BYTES
    else:
        cap = settings.AIPORTAL_MAX_BODY_BYTES
    return cap


def too_large_body(path: str, cap: int) -> tuple[bytes, str]:
    """The 413's body and content type: OpenAI's error shape under ``/v1`` (as the API
    answers everything else), a sentence elsewhere."""
    message = f"The request body is larger than {cap} bytes."
    if path.startswith("/v1/"):
        error = {"message": message, "type": "invalid_request_error", "param": None}
        body = json.dumps({"error": {**error, "code": "request_too_large"}})
        return body.encode(), "application/json"
    return f"{message}\n".encode(), "text/plain; charset=utf-8"


def body_capped(app: AsgiApp) -> AsgiApp:
    """The same caps for ASGI servers that hand a body over as it arrives (``runserver``,
    uvicorn): a declared length over the cap is answered 413 before the application runs,
    and a body that grows past it ends the request (the application sees the client leave)
    with a 413 if nothing was answered yet. Under aiportal.serve the web server has
    enforced them already, and this never fires."""

    async def capped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        cap = body_cap_for(scope["path"])
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            return await _refuse(scope["path"], cap, send)
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    if not started:
                        await _refuse(scope["path"], cap, send)
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if received > cap:
                    return  # refused already: the application's answer goes nowhere
                started = True
            elif received > cap:
                return
            await send(message)

        return await app(scope, counted_receive, watched_send)

    return capped


async def _refuse(path: str, cap: int, send: Send) -> None:
    body, content_type = too_large_body(path, cap)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
