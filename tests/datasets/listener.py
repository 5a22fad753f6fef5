"""Real HTTP listeners on 127.0.0.1 for the source tests, each counting the connections it
accepts: a test that says "nothing reached it" reads that count."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A route answers (status, headers, body), or is a callable given the handler for answers
# that need to misbehave (hang, drip).
Route = tuple[int, dict[str, str], bytes] | Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Listener:
    server: ThreadingHTTPServer
    routes: dict[str, Route]
    connections: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    listener: Listener

    def process_request(self, request, client_address):
        self.listener.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        listener = self.server.listener
        listener.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = listener.routes.get(self.path)
        if route is None:
            route = (404, {"Content-Type": "text/plain"}, b"not here")
        if callable(route):
            route(self)
            return
        status, headers, body = route
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Listeners:
    """Starts listeners on demand; all are stopped when the block ends."""

    def __init__(self) -> None:
        self._started: list[tuple[Listener, threading.Thread]] = []

    def start(
        self, routes: dict[str, Route] | None = None, *, tls: ssl.SSLContext | None = None
    ) -> Listener:
        server = _Server(("127.0.0.1", 0), _Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        listener = Listener(server=server, routes=dict(routes or {}))
        server.listener = listener
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        self._started.append((listener, thread))
        return listener

    def __enter__(self) -> Listeners:
        return self

    def __exit__(self, *exc) -> None:
        for listener, thread in self._started:
            listener.stop.set()
            listener.server.shutdown()
            listener.server.server_close()
            thread.join(timeout=5)


def hang(handler: BaseHTTPRequestHandler) -> None:
    """Accept the request and never answer (until the test ends)."""
    handler.server.listener.stop.wait(30)


def drip(handler: BaseHTTPRequestHandler) -> None:
    """Answer headers, then one byte every 50 ms for as long as the client stays."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.end_headers()
    while not handler.server.listener.stop.is_set():
        try:
            handler.wfile.write(b"x")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(0.05)
