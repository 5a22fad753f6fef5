"""Bearer tokens that are shown once and stored only as a keyed digest (API keys, SCIM
tokens): ``<label><lookup prefix>_<secret>``, the prefix finds the row, the digest proves the
token, compared in constant time against every secret key still accepted (so rotating
``SECRET_KEY`` with ``SECRET_KEY_FALLBACKS`` keeps the tokens working)."""

from __future__ import annotations

import hmac
import secrets
import string

from django.conf import settings
from django.utils.crypto import salted_hmac

_ALPHABET = string.ascii_letters + string.digits


def token_digest(token: str, *, salt: str, secret: str | None = None) -> str:
    """The stored form: an HMAC of the token keyed by ``SECRET_KEY`` (or ``secret``)."""
    digest: str = salted_hmac(salt, token, secret=secret, algorithm="sha256").hexdigest()
    return digest


def token_digest_matches(token: str, stored: str, *, salt: str) -> bool:
    # Every accepted secret is tried, each in constant time, none skipped on a match.
    matched = False
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        matched |= hmac.compare_digest(token_digest(token, salt=salt, secret=secret), stored)
    return matched


def token_new(*, label: str, prefix_hex_chars: int, secret_chars: int) -> tuple[str, str]:
    """A new (lookup prefix, whole token)."""
    prefix = secrets.token_hex(prefix_hex_chars // 2)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(secret_chars))
    return prefix, f"{label}{prefix}_{secret}"
