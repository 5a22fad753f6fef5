"""Which paths are the ``/v1`` API's: the ASGI router (aiportal/asgi.py) sends them to the
API's own handler, and sign-in by trusted header (accounts/signin/trusted_header.py) leaves them to
bearer keys."""

from __future__ import annotations

API_PREFIX = "/v1/"


def is_api_path(path: str) -> bool:
    """Paths the API handler serves: exactly the ones gateway/urls/api.py is mounted on. Anything
    else (``//v1``, ``/v1`` without its slash, ``/V1/``) gets the site's full stack."""
    return path.startswith(API_PREFIX)
