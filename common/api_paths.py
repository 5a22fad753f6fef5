"""Which paths are the ``/v1`` API's: the ASGI router (aiportal/asgi.py) sends them to the
API's own handler, and sign-in by trusted header (accounts/signin/trusted_header.py) leaves them to
bearer keys."""

from __future__ import annotations

API_PREFIX = "/v1/"


def is_api_path(path: str) -> bool:
    """Paths the API handler serves: exactly the ones gateway/urls/api.py is mounted on. Anything
    else (``//v1``, ``/v1`` without its slash, ``/V1/``) gets the site's full stack."""
    return path.startswith(API_PREFIX)


SCIM_PREFIX = "/scim/v2/"


def is_scim_path(path: str) -> bool:
    """SCIM provisioning (scim/): served by the site's handler, but authenticated by its own
    bearer tokens only, never by a session or a trusted header."""
    return path.startswith(SCIM_PREFIX)
