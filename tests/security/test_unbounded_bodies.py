"""Unbounded bodies: nobody, signed in or not, can make the web process store a body larger
than its path's cap. A declared Content-Length over the cap is answered 413 as soon as the
headers end, before authentication and before a byte of the body is read; a chunked body is
answered 413 once it passes the cap (aiportal/serve.py, common/body_limits.py).

On a real Daphne (``python -m aiportal.serve``) with small caps set for the test: /v1 4 KiB,
other pages 8 KiB, upload pages 64 KiB. Raw sockets, so the test sends exactly what an
attacker would: a 2 GiB declaration followed by a trickle, or chunks that never end.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import _database_url, start_daphne

# The Daphne reads the test database (sessions, sites); pytest-django creates it for such tests.
pytestmark = pytest.mark.django_db(transaction=True)

API_CAP, PAGE_CAP, UPLOAD_CAP = 4096, 8192, 65536
GIB2 = 2 * 2**30


@pytest.fixture(scope="module")
def capped_daphne(django_db_setup, django_db_blocker) -> Iterator[tuple[str, int]]:
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": "",
            "AIPORTAL_API_MAX_BODY_BYTES": str(API_CAP),
            "AIPORTAL_MAX_BODY_BYTES": str(PAGE_CAP),
            "AIPORTAL_UPLOAD_MAX_REQUEST_BYTES": str(UPLOAD_CAP),
        }
    )
    parts = urlsplit(url)
    try:
        yield parts.hostname, parts.port
    finally:
        process.stop()


def _connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=10)


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket, *, within: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """The response: status, headers, body (read until the server closes)."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), data[:200]
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _declared(address, path: str, length: int, *, send: int = 1000) -> tuple[int, dict, bytes]:
    """Declare ``length`` bytes, send only ``send`` of them, and read what comes back."""
    with _connect(address) as sock:
        sock.sendall(
            _head(path, {"Content-Type": "application/json", "Content-Length": str(length)})
        )
        sock.sendall(b"x" * send)
        return _answer(sock)


def test_v1_refuses_a_2_gib_declaration_without_a_key_before_reading_the_body(capped_daphne):
    started = time.monotonic()
    status, headers, body = _declared(capped_daphne, "/v1/chat/completions", GIB2)
    assert status == 413
    assert time.monotonic() - started < 5  # answered at once, not after waiting for 2 GiB
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large" and str(API_CAP) in error["message"]


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/admin/login/", "/"])
def test_sign_in_and_every_other_page_refuse_an_oversized_declaration(capped_daphne, path):
    status, headers, body = _declared(capped_daphne, path, PAGE_CAP + 1)
    assert status == 413, path
    assert headers["content-type"].startswith("text/plain")
    assert f"larger than {PAGE_CAP} bytes" in body.decode()


def test_a_chunked_body_is_cut_off_once_it_passes_the_cap(capped_daphne):
    with _connect(capped_daphne) as sock:
        sock.sendall(_head("/v1/completions", {"Transfer-Encoding": "chunked"}))
        sent = 0
        piece = b"x" * 1024
        # Never the terminating chunk: without the cap the server would wait for ever.
        while sent < 64 * 1024:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if select.select([sock], [], [], 0.05)[0]:
                break
        status, _, body = _answer(sock)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert sent <= API_CAP + 4 * 1024  # it stopped reading soon after the cap


@pytest.mark.parametrize("path", ["/datasets/1/upload/", "/chat/attachments/"])
def test_an_upload_page_takes_more_than_a_form_but_not_more_than_its_own_cap(capped_daphne, path):
    over_forms = PAGE_CAP * 2
    with _connect(capped_daphne) as sock:
        sock.sendall(_head(path, {"Content-Type": "text/plain", "Content-Length": str(over_forms)}))
        sock.sendall(b"x" * over_forms)
        status, _, _ = _answer(sock, within=10)
    assert status != 413  # read whole and handed to the application (which wants a session)
    status, _, _ = _declared(capped_daphne, path, UPLOAD_CAP + 1)
    assert status == 413


def test_bodies_under_the_cap_still_reach_the_application(capped_daphne):
    body = b'{"model": "m", "messages": []}'
    with _connect(capped_daphne) as sock:
        sock.sendall(
            _head(
                "/v1/chat/completions",
                {
                    "Content-Type": "application/json",
                    "Content-Length": str(len(body)),
                    "Connection": "close",
                },
            )
            + body
        )
        status, _, answer = _answer(sock)
    assert status == 401, answer[:300]  # the application answered: no key
    assert b'"error"' in answer


# --- The same caps for ASGI servers that stream bodies (runserver, uvicorn) -----------------


async def _asgi_call(path: str, headers: list, chunks: list[bytes]) -> tuple[list[dict], int]:
    """Call the real ASGI application in this process; what it sent, and how many body
    messages it asked for."""
    from aiportal.asgi import application

    sent: list[dict] = []
    asked = 0

    async def receive():
        nonlocal asked
        asked += 1
        if asked <= len(chunks):
            more = asked < len(chunks)
            return {"type": "http.request", "body": chunks[asked - 1], "more_body": more}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    await application(scope, receive, send)
    return sent, asked


async def test_the_asgi_application_refuses_an_oversized_declaration_before_running(settings):
    settings.AIPORTAL_MAX_BODY_BYTES = 2048
    sent, asked = await _asgi_call(
        "/accounts/login/", [(b"content-length", str(GIB2).encode())], [b"x" * 100]
    )
    assert sent[0]["status"] == 413
    assert asked == 0  # not a byte of the body was read


async def test_the_asgi_application_stops_reading_a_body_past_the_cap(settings):
    settings.AIPORTAL_API_MAX_BODY_BYTES = 2048
    chunks = [b"x" * 1024] * 64
    sent, asked = await _asgi_call("/v1/chat/completions", [], chunks)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "request_too_large"
    assert asked <= 4  # it stopped at the cap, not at 64 KiB
    assert [m for m in sent if m["type"] == "http.response.start"] == [sent[0]]
