"""Personal API keys: create, revoke, authenticate, list.

A key is ``aip_<prefix>_<secret>``: the prefix (12 hex characters) finds the row, the secret
(40 base62 characters, ~238 bits) makes it unguessable. Only an HMAC-SHA256 of the whole key
is stored, keyed from SECRET_KEY, so a leaked database gives no key and a leaked digest cannot
be brute-forced without the server's secret. Rotating SECRET_KEY invalidates every key unless
the old value stays in SECRET_KEY_FALLBACKS for a while (digests made with a fallback are
still accepted).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.audit import audit_record
from common.bearer_tokens import token_digest, token_digest_matches, token_new
from gateway.callers import policies_version_bump
from gateway.models import ApiKey

logger = logging.getLogger(__name__)

KEY_PREFIX = "aip_"
PREFIX_HEX_CHARS = 12
SECRET_CHARS = 40
_TOKEN = re.compile(rf"^aip_([0-9a-f]{{{PREFIX_HEX_CHARS}}})_([A-Za-z0-9]{{{SECRET_CHARS}}})$")
# The key's row is written at most this often when it is used, not once per request.
LAST_USED_GRANULARITY = timedelta(minutes=1)
_DIGEST_SALT = "gateway.keys.apikey-digest"


class KeyNotFound(Exception):
    """No key with that id belongs to this user (another user's key is reported the same)."""


def _digest(token: str) -> str:
    return token_digest(token, salt=_DIGEST_SALT)


def _digest_matches(token: str, stored: str) -> bool:
    return token_digest_matches(token, stored, salt=_DIGEST_SALT)


def _new_token() -> tuple[str, str]:
    return token_new(label=KEY_PREFIX, prefix_hex_chars=PREFIX_HEX_CHARS, secret_chars=SECRET_CHARS)


def apikey_create(
    *,
    user,
    name: str,
    expires_at: datetime | None = None,
    by_operator: bool = False,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for ``user``. Returns the row and the plaintext key, which exists only in
    this return value: show it once and forget it. ``by_operator`` is the operator's
    ``manage.py apikey create``: the audit event then has no actor."""
    name = name.strip()
    if not name:
        raise ValueError("A key needs a name.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry must be in the future.")
    prefix, token = _new_token()
    while ApiKey.objects.filter(prefix=prefix).exists():  # 48 bits: a clash is a curiosity
        prefix, token = _new_token()
    with transaction.atomic():
        key = ApiKey.objects.create(
            user=user, name=name[:100], prefix=prefix, digest=_digest(token), expires_at=expires_at
        )
        # The prefix is the public part (shown on every page); never the key or its digest.
        audit_record(
            actor=None if by_operator else user,
            action="apikey.create",
            target_type="apikey",
            target_id=key.pk,
            detail={
                "owner": user.pk,
                "name": key.name,
                "prefix": key.prefix,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "by_operator": by_operator,
            },
            ip=ip,
        )
    return key, token


def apikey_revoke(*, key: ApiKey, by, ip: str | None = None) -> ApiKey:
    """Revoke ``key``. ``by`` is the user acting (the owner, or staff in the admin), or None
    for the operator's ``manage.py apikey revoke``. Revoking twice keeps the first time."""
    if by is not None and key.user_id != by.pk and not by.is_staff:
        raise KeyNotFound()
    logger.info("API key %s of user %s revoked by %s", key.prefix, key.user_id, by or "operator")
    if key.revoked_at is None:
        # Conditional UPDATE: a concurrent revoke keeps its own (earlier) timestamp.
        now = timezone.now()
        with transaction.atomic():
            revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
                revoked_at=now
            )
            if revoked:
                audit_record(
                    actor=by,
                    action="apikey.revoke",
                    target_type="apikey",
                    target_id=key.pk,
                    detail={
                        "owner": key.user_id,
                        "name": key.name,
                        "prefix": key.prefix,
                        "by_operator": by is None,
                    },
                    ip=ip,
                )
        key.refresh_from_db(fields=["revoked_at"])
        # Every web process caches keys it has seen (gateway/key_cache.py): make them look
        # again, once the revocation is committed and visible to them.
        transaction.on_commit(policies_version_bump)
    return key


def apikey_token_prefix(token: str) -> str | None:
    """The lookup prefix of a well-formed token, None for anything else."""
    match = _TOKEN.match(token or "")
    return match.group(1) if match else None


def apikey_by_prefix(*, prefix: str) -> ApiKey | None:
    """The row with this lookup prefix and its user, usable or not (one query)."""
    return ApiKey.objects.select_related("user").filter(prefix=prefix).first()


def apikey_accepts(key: ApiKey | None, token: str) -> bool:
    """Whether ``token`` is ``key``'s and the key may be used now: the digest matches, the
    key is neither revoked nor expired, and its user is active."""
    if key is None or not _digest_matches(token, key.digest):
        return False
    return key.is_usable() and key.user.may_act


def apikey_authenticate(*, token: str) -> ApiKey | None:
    """The key this token is, with its user loaded, or None when the token is malformed,
    unknown, revoked or expired, or its user is inactive."""
    prefix = apikey_token_prefix(token)
    if prefix is None:
        return None
    key = apikey_by_prefix(prefix=prefix)
    return key if apikey_accepts(key, token) else None


def apikey_use_due(*, key: ApiKey, now: datetime | None = None) -> bool:
    """Whether ``apikey_mark_used`` would write (no query: async callers skip a thread hop)."""
    now = now or timezone.now()
    return key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY


def apikey_mark_used(*, key: ApiKey, now: datetime | None = None) -> bool:
    """Record that the key was used, at most once per LAST_USED_GRANULARITY: a key used a
    hundred times a second costs one write a minute. Returns whether a row was written."""
    now = now or timezone.now()
    if not apikey_use_due(key=key, now=now):
        return False
    key.last_used_at = now
    return apikey_last_used_write(key_id=key.pk, now=now)


def apikey_last_used_write(*, key_id: int, now: datetime) -> bool:
    """Set the row's last-used time to ``now`` unless it is already recent enough."""
    # Conditional UPDATE: of several processes seeing the same stale value, one writes.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
    return bool(ApiKey.objects.filter(stale, pk=key_id).update(last_used_at=now))


def apikey_list(*, user) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def apikey_get(*, user, id: int) -> ApiKey:
    """The user's own key; another user's id raises KeyNotFound exactly like a missing one."""
    try:
        return ApiKey.objects.get(user=user, pk=id)
    except ApiKey.DoesNotExist:
        raise KeyNotFound() from None
