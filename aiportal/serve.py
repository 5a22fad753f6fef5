"""``python -m aiportal.serve``: Daphne, with TCP_NODELAY on every HTTP connection.

Same arguments as the ``daphne`` command; every place that starts the web process uses this
one (compose, ``./dev up``, the tests' Daphnes, the benchmarks).

Why: Twisted leaves Nagle's algorithm on for the connections it accepts. A token stream is
many small writes, and with Nagle a write waits while the one before it is unacknowledged,
which the client's delayed ACK holds back: a ``/v1`` stream's first token (its second event,
after the role delta) waited for it. The gateway benchmark measured the first token's added
latency at 1 stream going from 9.7 ms to about 4 ms with this, and at 16 streams from 24 ms
to about 10 ms (docs/gateway/proxy.md). Websockets already have it: autobahn sets the option
itself once a connection is upgraded.
"""

from __future__ import annotations

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest


class NoDelayRequest(WebRequest):
    def process(self):
        # Per request, not per connection: Twisted builds the channel before it has a
        # transport, and a request is where Daphne's code first sees one. One setsockopt.
        set_no_delay = getattr(self.channel.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:  # a TCP connection (not a UNIX socket's)
            set_no_delay(True)
        return super().process()


class NoDelayHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = NoDelayRequest
        return protocol


def main() -> None:
    # Daphne's Server.run builds its HTTP factory from this module-level name.
    daphne.server.HTTPFactory = NoDelayHTTPFactory
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
