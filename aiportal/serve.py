"""``python -m aiportal.serve``: Daphne, with TCP connections that send each write at once.

Same arguments as the ``daphne`` command; every place that starts the web process uses this
one (compose, ``./dev up``, the tests' Daphnes, the benchmarks). It changes the transport of
every TCP connection Daphne accepts (``StreamingServer``), nothing of Daphne itself:

- **TCP_NODELAY.** Twisted leaves Nagle's algorithm on for the connections it accepts. A
  token stream is many small writes, and with Nagle a write waits while the one before it is
  unacknowledged, which the client's delayed ACK holds back: a ``/v1`` stream's first token
  (its second event, after the role delta) waited for it. The gateway benchmark measured the
  first token's added latency at 1 stream going from 9.7 ms to about 4 ms with this.
- **Write-through.** Twisted's transport never sends inside ``write()``: it buffers, asks
  the event loop to watch the socket for writability (an ``epoll_ctl``), sends on the next
  loop turn and stops watching (another ``epoll_ctl``). For a token stream that is one
  extra loop turn of delay per token, and under load a loop turn is milliseconds, on every
  first token. ``StreamingServer.write`` sends at once when nothing is queued before it, as
  asyncio's own transports do, and leaves the rest (a full socket buffer, a closing
  connection, TLS) to Twisted. docs/gateway/proxy.md has the figures.
- **Body chunks written directly** (``CappedRequest.handle_reply``). Daphne writes each
  chunk through ``twisted.web.http``'s deprecation proxy, a Python attribute lookup per
  write; a token stream makes one per token. A mid-stream chunk goes straight to
  ``Request.write``; everything else is Daphne's as before.
- **A frozen start-up heap** (``PortalServer``). Django, its apps and their libraries leave
  about 150,000 objects that live as long as the process. CPython's full (generation 2)
  collection walks all of them, and with token streams keeping objects alive long enough to
  be promoted it ran every few seconds under load and held the event loop for 60 to 75 ms
  each time, the largest stalls in a loop-lag trace. After the URLconf (and with it every
  view module) is imported, ``gc.freeze()`` moves what exists into the permanent generation
  that collections skip. What the process makes later is collected as before.
- **Request bodies capped as they arrive** (``CappedRequest``). Twisted reads a request's
  whole body, spooling it to a temporary file past 100 kB, before Daphne hands anything to
  the application: a request to ``/v1`` declaring 2 GiB, with no key, was written to disk
  before any check ran. Here a declared Content-Length over the path's cap
  (common/body_limits.py) is answered 413 as soon as the headers end, and a body without
  one (chunked) is answered 413 the moment it passes the cap; either way the connection
  closes and nothing more is read.
- **Oversized websocket messages answered, not dropped** (``PortalWebSocketFactory``).
  Daphne's websocket library (autobahn) drops the TCP connection of a message over the size
  limit without a word (``failByDrop``): the page saw a dead socket and nothing else. Here it
  sends a close frame, code 1009 (message too big) with a reason that says the limit, which
  the page shows (static/chat/socket.js). The limit is ``AIPORTAL_WEBSOCKET_MAX_BYTES``
  (settings), made to fit every frame the chat consumer still answers itself.
- **One frame for many sockets** (``SharedText``, an ASGI extension in each websocket's
  scope, ``common.websockets.SHARED_TEXT_EXTENSION``). A streamed delta goes to every socket
  on its conversation as the same text. Through the ASGI ``send`` each copy passed channels'
  session wrapper, Daphne's reply dispatch, a UTF-8 encode and autobahn's framing: per socket
  and token, more Python than the whole ``/v1`` relay of that token. Here the text is framed
  once (autobahn's ``prepareMessage``, made for broadcasting) and each socket's connection
  is handed the prepared bytes, on the event loop's own thread as Daphne's replies are.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet import tcp
from twisted.web import http

logger = logging.getLogger("aiportal.serve")


class StreamingServer(tcp.Server):
    """A server-side TCP connection with Nagle off that sends what it can at once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setTcpNoDelay(True)

    def _can_send_now(self) -> bool:
        # Nothing queued (order is kept), still open both ways, no TLS layer in between.
        return (
            self.connected
            and not self.disconnecting
            and not self._writeDisconnecting
            and not self._writeDisconnected
            and not self.TLS
            and not self._tempDataLen
            and self.offset == len(self.dataBuffer)
        )

    def write(self, data: bytes) -> None:
        if isinstance(data, bytes) and data and self._can_send_now():
            sent = self.writeSomeData(data)
            # An exception instance means the connection broke: Twisted's own path, below,
            # queues the data and reports the loss on its next attempt.
            if isinstance(sent, int):
                if sent == len(data):
                    return
                data = data[sent:]
        super().write(data)

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        iovec = list(iovec)
        if iovec and all(isinstance(part, bytes) for part in iovec) and self._can_send_now():
            self.write(b"".join(iovec))  # one send for a chunk's size line, data and CRLF
            return
        super().writeSequence(iovec)


class CappedRequest(WebRequest):
    """Daphne's request, refusing a body over its path's cap before storing it (see the
    module docstring)."""

    _refused = False
    _cap = 0
    _received = 0

    def gotLength(self, length: int | None) -> None:
        from common.body_limits import body_cap_for  # settings are ready only from here

        self._path_seen = _request_path(self.channel._path)  # the request line's target
        self._cap = body_cap_for(self._path_seen)
        if length is not None and length > self._cap:
            super().gotLength(0)  # an in-memory buffer that will hold nothing
            self._refuse(length)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > self._cap:
            self._refuse(None)
            return
        super().handleContentChunk(data)

    def handle_reply(self, message: dict) -> None:
        """A body chunk in mid-stream goes straight to ``Request.write``: Daphne's own
        ``handle_reply`` reaches it through ``twisted.web.http``'s deprecation proxy, an
        attribute lookup in Python for every write a token stream makes, which the gateway
        benchmark showed. Anything else (the start, the last chunk, a finished request, a
        malformed message) is Daphne's, as before."""
        if (
            message.get("more_body")
            and message.get("type") == "http.response.body"
            and self._response_started
            and not self.finished
            and self.channel is not None
        ):
            _request_write(self, message.get("body", b""))
            return
        super().handle_reply(message)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._refused:
            return  # answered already: the application never sees it
        super().requestReceived(command, path, version)

    def _refuse(self, declared: int | None) -> None:
        self._refused = True
        size = f"{declared} bytes" if declared is not None else "a body past the cap"
        logger.warning("refused %s to %s (cap %s bytes)", size, self._path_seen, self._cap)
        from common.body_limits import too_large_body

        body, content_type = too_large_body(self._path_seen, self._cap)
        head = (
            "HTTP/1.1 413 Content Too Large\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        self.channel.transport.write(head + body)
        # Closes once the answer is written; what the client still sends is never read.
        self.channel.loseConnection()


# Looked up once, not through the module's deprecation proxy per write.
_request_write = http.Request.write


def _request_path(target: bytes) -> str:
    """The path of a request-target as Daphne gives it to the application: decoded, no
    query, the absolute form (``http://host/path``) reduced to its path."""
    text = target.decode("latin-1")
    if not text.startswith("/"):
        text = urlsplit(text).path or "/"
    return unquote(text.split("?", 1)[0])


class CappedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = CappedRequest
        return protocol


def heap_freeze() -> None:
    """Import what requests would import on first use, collect, and freeze the rest."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the import is the point)
    gc.collect()
    gc.freeze()


CLOSE_MESSAGE_TOO_BIG = 1009


class PortalWebSocketProtocol(WebSocketProtocol):
    def _fail_connection(self, code: int = 1001, reason: str = "going away") -> None:
        if code == CLOSE_MESSAGE_TOO_BIG:
            # autobahn's own reason names octets and payloads; this one is for a person.
            limit = self.maxMessagePayloadSize
            reason = f"Too big: the server takes at most {limit // 1024} KiB in one message"
        super()._fail_connection(code, reason)


class PortalWebSocketFactory(WebSocketFactory):
    protocol = PortalWebSocketProtocol

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A close frame with a code and reason instead of a dropped connection, for every
        # failure (Daphne sets its other options after this, leaving this one alone).
        self.setProtocolOptions(failByDrop=False)


class SharedText:
    """A socket's ``SharedTextSender`` (common/websockets.py): the text framed once per
    server for consecutive sends of the same text object, then written to this socket."""

    def __init__(self, server: PortalServer, protocol: WebSocketProtocol) -> None:
        self.server = server
        self.protocol = protocol

    def send_text(self, text: str) -> bool:
        protocol = self.protocol
        connection = self.server.connections.get(protocol)
        # What Daphne checks before a reply, and an open socket (not closing).
        if (
            connection is None
            or connection.get("disconnected")
            or (protocol.state != protocol.STATE_OPEN)
        ):
            return False
        last = self.server.shared_last
        if last is None or last[0] is not text:
            # Identity, not equality: the bus hands every socket the same object, and a
            # new object is a new frame (compared by identity it costs nothing).
            last = self.server.shared_last = (text, protocol.factory.prepareMessage(text.encode()))
        protocol.sendPreparedMessage(last[1])
        return True


class PortalServer(Server):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.websocket_max_message_size = settings.AIPORTAL_WEBSOCKET_MAX_BYTES
        self.websocket_max_frame_size = settings.AIPORTAL_WEBSOCKET_MAX_BYTES
        # The last text framed for sockets, and its frame (``SharedText``).
        self.shared_last: tuple[str, Any] | None = None

    def create_application(self, protocol, scope):
        if scope.get("type") == "websocket":
            from common.websockets import SHARED_TEXT_EXTENSION

            extensions = scope.setdefault("extensions", {})
            extensions[SHARED_TEXT_EXTENSION] = {"sender": SharedText(self, protocol)}
        return super().create_application(protocol, scope)

    def run(self) -> None:
        # The application is loaded by now (the command line does it before building us).
        heap_freeze()
        super().run()


def main() -> None:
    # Daphne listens through Twisted's TCP port, which builds each connection's transport
    # from this class attribute. This process serves nothing but Daphne.
    tcp.Port.transport = StreamingServer
    # Daphne's server builds its HTTP factory from this module attribute in run().
    daphne.server.HTTPFactory = CappedHTTPFactory
    CommandLineInterface.server_class = PortalServer
    daphne.server.WebSocketFactory = PortalWebSocketFactory  # Server.run builds it by this name
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
