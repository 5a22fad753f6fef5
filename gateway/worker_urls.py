"""A worker's base URL, checked and normalised.

Pure (urllib only), so that the ``Worker`` model's ``clean()``, the admin form, the pool and
the telemetry all check a URL the same way without importing each other.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = {"http", "https", "dns+http", "dns+https"}


def worker_url_check(url: str) -> str:
    """The URL normalised (no trailing slash), or ValueError saying what is wrong."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise ValueError("needs an http(s):// or dns+http(s):// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        raise ValueError("has an invalid port") from None
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, "", ""))
