"""The Origin check of every websocket route: channels' ALLOWED_HOSTS check, run only on an
Origin that is what a browser sends.

A browser writes Origin as ``scheme://host[:port]`` and nothing else (RFC 6454), or ``null``.
Channels parses the header with ``urlparse`` and compares only the host it finds, so
``http://evil.example\\@127.0.0.1`` passed as 127.0.0.1, and ``ftp://`` or
``chrome-extension://`` origins on an allowed host passed too. Anything that is not an
http(s) origin without user info, path, query or fragment is refused here before that
comparison. (No browser sends such a header, so this refuses no real page; it removes the
chance that a second parser somewhere reads the same header differently.)
"""

from __future__ import annotations

from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is not None and not _is_serialized_origin(parsed_origin):
            return False
        return super().valid_origin(parsed_origin)


def _is_serialized_origin(origin: ParseResult) -> bool:
    return (
        origin.scheme in {"http", "https"}
        and bool(origin.netloc)
        and "@" not in origin.netloc
        and "\\" not in origin.netloc
        and not (origin.path or origin.params or origin.query or origin.fragment)
    )


def AllowedHostsOriginValidator(application):  # the name channels gives it
    """channels.security.websocket.AllowedHostsOriginValidator, with the check above."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
