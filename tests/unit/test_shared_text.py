"""aiportal/serve.py's ``SharedText``: one text framed once for every socket it goes to, and
written straight to each connection (common/websockets.py, ``SharedTextSender``). Real
autobahn protocols over Twisted's in-memory transport; the end-to-end tests (browser, faults)
run it inside real Daphnes."""

from __future__ import annotations

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet.testing import StringTransport

from aiportal.serve import PortalServer, SharedText


def server_with(*protocols: WebSocketServerProtocol) -> PortalServer:
    server = PortalServer.__new__(PortalServer)  # no listening: only what SharedText reads
    server.connections = {protocol: {} for protocol in protocols}
    server.shared_last = None
    return server


def new_factory() -> WebSocketServerFactory:
    factory = WebSocketServerFactory()
    factory.protocol = WebSocketServerProtocol  # Twisted's, as Daphne's protocol is
    return factory


def open_socket(factory: WebSocketServerFactory) -> tuple[WebSocketServerProtocol, StringTransport]:
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.state = protocol.STATE_OPEN  # the handshake is autobahn's, not ours
    transport.clear()
    return protocol, transport


def test_one_text_is_framed_once_and_written_to_every_socket(monkeypatch):
    factory = new_factory()
    prepared = []
    prepare = factory.prepareMessage
    monkeypatch.setattr(
        factory, "prepareMessage", lambda *a, **k: prepared.append(a) or prepare(*a, **k)
    )
    (first, first_wire), (second, second_wire) = open_socket(factory), open_socket(factory)
    server = server_with(first, second)
    text = '{"type": "message.delta", "text": "héllo"}'
    assert SharedText(server, first).send_text(text)
    assert SharedText(server, second).send_text(text)
    payload = text.encode()
    frame = bytes([0x81, len(payload)]) + payload  # FIN + text, unmasked from a server
    assert first_wire.value() == second_wire.value() == frame
    assert len(prepared) == 1
    # Another text object is another frame, even with equal content.
    again = "".join(["{", text[1:]])
    assert SharedText(server, first).send_text(again)
    assert len(prepared) == 2
    assert first_wire.value() == frame + frame


def test_a_socket_that_is_not_open_gets_nothing():
    factory = new_factory()
    closing, closing_wire = open_socket(factory)
    closing.state = closing.STATE_CLOSING
    gone, gone_wire = open_socket(factory)
    server = server_with(closing, gone)
    server.connections[gone]["disconnected"] = True
    unknown, unknown_wire = open_socket(factory)
    for protocol in (closing, gone, unknown):
        assert not SharedText(server, protocol).send_text("{}")
    assert closing_wire.value() == gone_wire.value() == unknown_wire.value() == b""
