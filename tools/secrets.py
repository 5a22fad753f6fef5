"""Secrets of MCP servers, encrypted at rest as accounts encrypts second-factor secrets:
Fernet with a key derived from SECRET_KEY (one per accepted key, so a rotation that keeps the
old one in SECRET_KEY_FALLBACKS still decrypts). A database copy alone gives no credential."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """SECRET_KEY changed without the old one in SECRET_KEY_FALLBACKS: enter it again."""


def _fernet() -> MultiFernet:
    keys = []
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        digest = hashlib.sha256(f"aiportal.tools.secrets:{secret}".encode()).digest()
        keys.append(Fernet(base64.urlsafe_b64encode(digest)))
    return MultiFernet(keys)


def secret_encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode() if text else ""


def secret_decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "An MCP server's secret cannot be decrypted: SECRET_KEY changed without the old "
            "value in SECRET_KEY_FALLBACKS. Enter the secret again in admin."
        ) from None
