"""SCIM bearer tokens: create, revoke, authenticate. The same scheme as the gateway's API
keys (gateway/keys.py): ``scim_<prefix>_<secret>``, 12 hex characters to find the row and 40
base62 characters (~238 bits) to make it unguessable, stored only as an HMAC-SHA256 keyed
from SECRET_KEY (fallbacks accepted) and compared in constant time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import audit_record
from common.bearer_tokens import token_digest, token_digest_matches, token_new
from scim.models import ScimToken

PREFIX_HEX_CHARS = 12
SECRET_CHARS = 40
_TOKEN = re.compile(rf"^scim_([0-9a-f]{{{PREFIX_HEX_CHARS}}})_([A-Za-z0-9]{{{SECRET_CHARS}}})$")
_DIGEST_SALT = "scim.tokens.token-digest"
LAST_USED_GRANULARITY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return token_digest(token, salt=_DIGEST_SALT)


def _digest_matches(token: str, stored: str) -> bool:
    return token_digest_matches(token, stored, salt=_DIGEST_SALT)


def _new_token() -> tuple[str, str]:
    return token_new(label="scim_", prefix_hex_chars=PREFIX_HEX_CHARS, secret_chars=SECRET_CHARS)


def scim_token_create(*, name: str, by, ip: str | None = None) -> tuple[ScimToken, str]:
    """Create a token. Returns the row and the plaintext token, which exists only in this
    return value: the admin is shown it once."""
    name = name.strip()
    if not name:
        raise ValueError("A token needs a name.")
    prefix, token = _new_token()
    while ScimToken.objects.filter(prefix=prefix).exists():
        prefix, token = _new_token()
    with transaction.atomic():
        row = ScimToken.objects.create(
            name=name[:100], prefix=prefix, digest=_digest(token), created_by=by
        )
        audit_record(
            actor=by,
            action="scim.token.create",
            target_type="scim.token",
            target_id=row.pk,
            detail={"name": row.name, "prefix": row.prefix},
            ip=ip,
        )
    return row, token


def scim_token_revoke(*, token: ScimToken, by, ip: str | None = None) -> ScimToken:
    """Revoke ``token`` at once (the next request with it is a 401). Twice keeps the first."""
    with transaction.atomic():
        # Conditional UPDATE: of two admins revoking at once, one records it.
        if ScimToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        ):
            audit_record(
                actor=by,
                action="scim.token.revoke",
                target_type="scim.token",
                target_id=token.pk,
                detail={"name": token.name, "prefix": token.prefix},
                ip=ip,
            )
    token.refresh_from_db(fields=["revoked_at"])
    return token


def scim_token_authenticate(*, raw: str) -> ScimToken | None:
    """The live token ``raw`` is, or None when it is malformed, unknown or revoked."""
    match = _TOKEN.match(raw or "")
    if match is None:
        return None
    row = ScimToken.objects.filter(prefix=match.group(1)).first()
    if row is None or not _digest_matches(raw, row.digest) or row.revoked_at is not None:
        return None
    return row


def scim_token_mark_used(*, token: ScimToken, now: datetime | None = None) -> None:
    """Record the use, at most once per LAST_USED_GRANULARITY: a sync of ten thousand
    users costs a write a minute, not one per request."""
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_GRANULARITY:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
    ScimToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
