"""How large a request body may be, by the kind of path it is sent to.

The web server reads and stores a whole request body before the application sees any of it
(Daphne's Twisted request spools anything over 100 kB to a temporary file), so the cap has
to be applied while the body arrives, before authentication: aiportal/serve.py refuses a
declared Content-Length over the cap with a 413 before reading a byte of the body, and stops
reading a body without one (chunked) once it passes the cap. The edge (compose/Caddyfile)
applies the same classes first; this is the web process's own line, for deployments without
that edge and for anything that reaches a web process directly.

- ``/v1/``: ``AIPORTAL_API_MAX_BODY_BYTES`` (the API's own cap, also checked by the view).
- upload pages: ``AIPORTAL_UPLOAD_MAX_REQUEST_BYTES`` (several files in one form; each
  file's own limit is the upload code's, datasets/sources/uploads.py).
- everything else (sign-in and every other form, the chat's JSON endpoints, admin):
  ``AIPORTAL_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import re

from django.conf import settings

# The pages that take files: a multipart body of several of them.
UPLOAD_PATHS = (re.compile(r"/datasets/\d+/upload/"),)


def body_cap_for(path: str) -> int:
    """The largest request body, in bytes, accepted for ``path`` (decoded, no query)."""
    if path.startswith("/v1/"):
        return settings.AIPORTAL_API_MAX_BODY_BYTES
    if any(pattern.fullmatch(path) for pattern in UPLOAD_PATHS):
        return settings.AIPORTAL_UPLOAD_MAX_REQUEST_BYTES
    return settings.AIPORTAL_MAX_BODY_BYTES
