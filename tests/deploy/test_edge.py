"""compose/Caddyfile, run by Caddy in front of a small echo server that reports what reached
it: the headers the edge adds and replaces, the bodies and paths it refuses, TLS and HTTP/2."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.deploy.compose_support import compose_load, service_environment
from tests.deploy.edge import CADDYFILE, Edge, caddy_path, running_edge

# The edge's caps by kind of path, small for the test: upload pages, /v1, every other page.
MAX_BODY, API_MAX_BODY, FORM_MAX_BODY = 64 * 1024, 8 * 1024, 16 * 1024
CAPS = {
    "AIPORTAL_EDGE_MAX_BODY_BYTES": str(MAX_BODY),
    "AIPORTAL_EDGE_API_MAX_BODY_BYTES": str(API_MAX_BODY),
    "AIPORTAL_EDGE_FORM_MAX_BODY_BYTES": str(FORM_MAX_BODY),
}
UPLOAD = "/datasets/7/upload/"


class EchoServer:
    """Answers every request with the request's path and headers as JSON, and keeps the
    paths it was asked for, so a test can tell what never reached the upstream."""

    def __init__(self) -> None:
        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _read_body(self) -> None:
                """The whole body, as an application server reads it before answering."""
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    return
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    self.rfile.read(size + 2)  # the chunk and its CRLF
                self.rfile.readline()

            def _answer(self) -> None:
                try:
                    self._read_body()
                except (ValueError, OSError):
                    return  # the edge gave up on this request mid-body
                seen.append(self.path)
                body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Server", "echo/1.0 (leaks a version)")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def edge(echo) -> Iterator[Edge]:
    with running_edge(echo.address, env=CAPS) as edge:
        yield edge


def test_responses_carry_the_security_headers_and_no_server_banner(edge):
    response = httpx.get(f"{edge.url}/chat/")
    assert response.status_code == 200
    headers = response.headers
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]
    # Neither the upstream's version nor Caddy's name.
    assert "server" not in headers


def test_forwarding_headers_a_client_sends_are_replaced_by_the_edge(edge):
    forged = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Real-IP": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
    }
    received = httpx.get(f"{edge.url}/who", headers=forged).json()["headers"]
    assert received["X-Forwarded-For"] == "127.0.0.1"
    assert received["X-Real-Ip"] == "127.0.0.1"
    assert received["X-Forwarded-Proto"] == "http"  # what this client really used
    assert received["X-Forwarded-Host"] == edge.url.removeprefix("http://")
    # The Host header itself reaches the application unchanged (Django checks it).
    assert received["Host"] == edge.url.removeprefix("http://")


def test_a_body_over_the_limit_is_refused_with_413_before_it_reaches_the_upstream(edge, echo):
    response = httpx.post(f"{edge.url}{UPLOAD}?big", content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413
    assert f"{UPLOAD}?big" not in echo.seen
    # A body under the limit goes through.
    response = httpx.post(f"{edge.url}{UPLOAD}?small", content=b"x" * MAX_BODY)
    assert response.status_code == 200
    assert f"{UPLOAD}?small" in echo.seen


def test_a_chunked_body_that_grows_over_the_limit_is_cut_off_with_413(edge):
    def chunks():
        for _ in range(4):
            yield b"x" * (MAX_BODY // 2)

    response = httpx.post(f"{edge.url}{UPLOAD}?chunked", content=chunks())
    assert response.status_code == 413
    # And the upstream is not blamed for it: the next request is served.
    assert httpx.get(f"{edge.url}/after").status_code == 200


@pytest.mark.parametrize(
    "path, cap",
    [
        ("/v1/chat/completions", API_MAX_BODY),
        ("/accounts/login/", FORM_MAX_BODY),
        ("/api/conversations/1/rename/", FORM_MAX_BODY),
        ("/datasets/7/upload/extra", FORM_MAX_BODY),  # not the upload page itself
        ("/chat/attachments/", MAX_BODY),  # the composer's upload: an upload page
        ("/chat/attachments/7/", FORM_MAX_BODY),
    ],
)
def test_each_kind_of_path_has_its_own_cap_declared_or_chunked(edge, echo, path, cap):
    over = f"{path}?over"
    assert httpx.post(f"{edge.url}{over}", content=b"x" * (cap + 1)).status_code == 413
    assert over not in echo.seen

    def chunks():
        for _ in range(4):
            yield b"x" * (cap // 2)

    assert httpx.post(f"{edge.url}{path}?chunked", content=chunks()).status_code == 413
    # A body at the cap goes through: the caps differ by path, not one for all.
    under = f"{path}?under"
    assert httpx.post(f"{edge.url}{under}", content=b"x" * cap).status_code == 200
    assert under in echo.seen


def test_a_2_gib_declaration_is_refused_before_a_byte_of_it_is_read(edge):
    host, port = edge.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
            b"Content-Length: 2147483648\r\n\r\n" % edge.url.removeprefix("http://").encode()
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(
    "path",
    ["/metrics", "/metrics/", "/metrics?name=x", "/healthz", "/emulator/state", "/emulator/faults"],
)
def test_internal_paths_are_not_served_outside(edge, echo, path):
    response = httpx.get(f"{edge.url}{path}")
    assert response.status_code == 404
    assert not any(
        seen.split("?")[0].rstrip("/") == path.split("?")[0].rstrip("/") for seen in echo.seen
    )


def test_the_health_site_answers_on_loopback(edge):
    response = httpx.get(edge.health_url)
    assert (response.status_code, response.text) == (200, "ok")


def test_with_tls_the_edge_speaks_http2_and_redirects_plain_http(echo):
    with running_edge(echo.address, tls=True) as edge:
        port = int(edge.url.rsplit(":", 1)[1])
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # Caddy's internal CA, trusted by nobody here
        context.set_alpn_protocols(["h2", "http/1.1"])
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.selected_alpn_protocol() == "h2"
        response = httpx.get(f"{edge.url}/over-tls", verify=False)  # noqa: S501 (as above)
        assert response.status_code == 200
        assert response.json()["headers"]["X-Forwarded-Proto"] == "https"
        redirect = httpx.get(f"http://localhost:{edge.http_port}/x")
        assert redirect.status_code == 308
        assert redirect.headers["location"].startswith("https://localhost")
        assert redirect.headers["location"].endswith("/x")


def test_the_production_config_serves_the_domain_over_https_to_web():
    """The environment compose gives the edge: the Caddyfile adapts to a server on :443 for
    the domain (automatic HTTPS, so a certificate is obtained) in front of web:8000."""
    environment = service_environment(compose_load()["services"]["edge"])
    result = subprocess.run(
        [caddy_path(), "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    servers = json.loads(result.stdout)["apps"]["http"]["servers"]
    (site,) = [s for s in servers.values() if s["listen"] == [":443"]]
    assert "automatic_https" not in site  # nothing skipped: certificates are managed
    (route,) = site["routes"]
    assert route["match"] == [{"host": [environment["AIPORTAL_SITE_ADDRESS"]]}]
    assert '"dial":"web:8000"' in json.dumps(route, separators=(",", ":"))
