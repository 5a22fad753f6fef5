"""aiportal.serve: Daphne with TCP_NODELAY on its HTTP connections. That the whole suite's
Daphnes run through it shows it serves; these check what it adds."""

from __future__ import annotations

from types import SimpleNamespace

from daphne.http_protocol import WebRequest

from aiportal.serve import NoDelayHTTPFactory, NoDelayRequest


class Transport:
    def __init__(self) -> None:
        self.no_delay: list[bool] = []

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay.append(enabled)


def test_a_request_turns_nagle_off_on_its_connection_then_is_served_as_daphne_serves_it(
    monkeypatch,
):
    served = []
    monkeypatch.setattr(WebRequest, "process", lambda request: served.append(request))
    request = NoDelayRequest.__new__(NoDelayRequest)
    request.channel = SimpleNamespace(transport=Transport())

    request.process()

    assert request.channel.transport.no_delay == [True]
    assert served == [request]


def test_a_connection_without_tcp_options_is_served_all_the_same(monkeypatch):
    served = []
    monkeypatch.setattr(WebRequest, "process", lambda request: served.append(request))
    request = NoDelayRequest.__new__(NoDelayRequest)
    request.channel = SimpleNamespace(transport=object())  # a UNIX socket's

    request.process()

    assert served == [request]


def test_the_factory_builds_channels_whose_requests_are_no_delay_requests():
    factory = NoDelayHTTPFactory(server=SimpleNamespace())
    protocol = factory.buildProtocol(("127.0.0.1", 1234))
    assert protocol.requestFactory is NoDelayRequest
