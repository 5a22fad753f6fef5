"""aiportal.serve: Daphne whose TCP connections have Nagle off and send each write at once.
That the whole suite's Daphnes run through it shows it serves HTTP and websockets; these
check what it adds, on real loopback sockets, with a reactor that records what it is asked
to watch."""

from __future__ import annotations

import contextlib
import select
import socket
from types import SimpleNamespace

import pytest
from twisted.internet import main as twisted_main
from twisted.internet import tcp
from twisted.internet.protocol import Protocol

from aiportal import serve
from aiportal.serve import StreamingServer


class Reactor:
    """What a transport asks of the event loop: watch this socket for reading or writing."""

    def __init__(self) -> None:
        self.readers: set[object] = set()
        self.writers: set[object] = set()

    def addReader(self, reader) -> None:
        self.readers.add(reader)

    def removeReader(self, reader) -> None:
        self.readers.discard(reader)

    def addWriter(self, writer) -> None:
        self.writers.add(writer)

    def removeWriter(self, writer) -> None:
        self.writers.discard(writer)


@pytest.fixture
def connection():
    """(transport, peer socket, reactor): a StreamingServer on the accepted end of a real
    loopback TCP connection, as Twisted's port builds it."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    accepted, address = listener.accept()
    accepted.setblocking(False)
    peer.settimeout(5)
    reactor = Reactor()
    port = SimpleNamespace(_realPortNumber=listener.getsockname()[1])
    transport = StreamingServer(accepted, Protocol(), address, port, 1, reactor)
    yield transport, peer, reactor
    for sock in (accepted, peer, listener):
        sock.close()


def receive(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = peer.recv(size - len(data))
        assert chunk, "the connection closed early"
        data += chunk
    return data


def test_nagle_is_off_on_every_accepted_connection(connection):
    transport, _, _ = connection
    assert transport.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_write_is_on_the_wire_when_write_returns_and_the_loop_is_not_asked_to_watch(
    connection,
):
    transport, peer, reactor = connection

    transport.write(b"data: first token\n\n")

    # Twisted's own transport only queues here and asks the reactor to watch the socket.
    assert transport not in reactor.writers
    assert not transport._tempDataBuffer
    assert receive(peer, 19) == b"data: first token\n\n"


def test_a_chunk_written_as_a_sequence_goes_out_at_once_in_one_piece(connection):
    transport, peer, reactor = connection

    transport.writeSequence([b"14\r\n", b"data: a token\n\n\r\n", b"\r\n"])

    assert transport not in reactor.writers
    assert receive(peer, 23) == b"14\r\ndata: a token\n\n\r\n\r\n"


def test_what_a_full_socket_cannot_take_is_queued_and_later_writes_keep_their_order(
    connection,
):
    transport, peer, reactor = connection
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    block = bytes(range(256)) * 16384  # 4 MiB: far more than both socket buffers hold

    transport.write(block)
    assert transport in reactor.writers  # the rest waits for the socket to drain
    transport.write(b"after")  # must not overtake the queued bytes
    transport.writeSequence([b"and ", b"last"])

    received = b""
    expected = block + b"afterand last"
    while len(received) < len(expected):
        # What the event loop does: write when the socket it watches is writable.
        watched = [transport.socket] if transport in reactor.writers else []
        readable, writable, _ = select.select([peer], watched, [], 5)
        assert readable or writable, "stuck: nothing to read and nothing written"
        if writable:
            assert transport.doWrite() is None
        if readable:
            received += peer.recv(1 << 20)
    assert received == expected
    assert transport not in reactor.writers  # all sent: the loop stops watching


def test_writes_while_closing_take_twisted_s_path_and_are_delivered_before_the_close(
    connection,
):
    transport, peer, reactor = connection

    transport.loseConnection()
    transport.write(b"last words")

    assert transport in reactor.writers
    assert transport.doWrite() is twisted_main.CONNECTION_DONE
    assert receive(peer, 10) == b"last words"


def test_a_connection_that_broke_is_left_to_twisted_to_report(connection):
    transport, peer, reactor = connection
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # a reset: the next send fails
    transport.write(b"x")  # may still succeed: the reset can arrive after it
    with contextlib.suppress(OSError):
        transport.socket.recv(1)

    transport.write(b"data: lost\n\n")  # does not raise

    assert transport in reactor.writers
    assert isinstance(transport.doWrite(), Exception)  # Twisted's report: connection lost


def test_serve_installs_the_transport_for_daphne_s_tcp_port_then_runs_daphne(monkeypatch):
    monkeypatch.setattr(tcp.Port, "transport", tcp.Server)
    ran = []
    monkeypatch.setattr(serve.CommandLineInterface, "entrypoint", lambda: ran.append(True))

    serve.main()

    assert tcp.Port.transport is StreamingServer
    assert ran == [True]


def test_the_server_freezes_the_start_up_heap_before_it_serves(monkeypatch):
    """What exists once the application and its URLconf are loaded lives as long as the
    process: frozen, full collections skip it (they held the loop for 60-75 ms each)."""
    import gc

    import django.urls
    from daphne.server import Server

    order: list[str] = []

    class Resolver:
        @property
        def url_patterns(self):
            order.append("urls imported")
            return []

    monkeypatch.setattr(django.urls, "get_resolver", Resolver)
    monkeypatch.setattr(Server, "run", lambda server: order.append("served"))
    monkeypatch.setattr(gc, "freeze", lambda: order.append("frozen"))

    serve.PortalServer.run(object.__new__(serve.PortalServer))

    assert order == ["urls imported", "frozen", "served"]
