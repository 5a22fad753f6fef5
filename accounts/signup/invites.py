"""Invitations (``AIPORTAL_SIGNUP=invite``): an admin invites an address, the mail carries a
link with a one-time token, and the account created for that address uses the invite up.

The token is 256 random bits; only an HMAC of it, keyed from SECRET_KEY, is stored (like API
keys, gateway/keys.py), so a copy of the database cannot produce a working link. A link only
says "this browser read that mailbox": opening it stashes the address as verified in the
session (allauth's own mechanism for invitations), and the local sign-up under the invite
policy accepts only that address. An SSO login needs no link: the identity provider vouches
for the address, and a live invite for it is enough.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.audit import audit_record
from accounts.models import Invite, User

logger = logging.getLogger(__name__)

_DIGEST_SALT = "accounts.invites.token-digest"


def _digest(token: str) -> str:
    return salted_hmac(_DIGEST_SALT, token, algorithm="sha256").hexdigest()


def _normalise(email: str) -> str:
    return User.objects.normalize_email(email.strip()).lower()


def invite_live_for(*, email: str) -> Invite | None:
    """The newest live invite for this address (case-insensitive), or None."""
    now = timezone.now()
    return (
        Invite.objects.filter(
            email__iexact=email.strip(),
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires__gt=now,
        )
        .order_by("-created")
        .first()
    )


def invite_by_token(*, token: str) -> Invite | None:
    """The invite this link token belongs to, live or not (None for an unknown token)."""
    if not token or len(token) > 100:
        return None
    return Invite.objects.filter(token_digest=_digest(token)).first()


@transaction.atomic
def invite_create(
    *, email: str, invited_by: User | None, link_for, days: int | None = None
) -> tuple[Invite, str]:
    """Invite ``email`` and mail it the link. ``link_for(token)`` turns the token into the
    absolute URL of the invite page (the caller knows the site's address). Returns the invite
    and the token, which exists only here and in the mail."""
    email = _normalise(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValueError("An account with this address exists already.")
    days = days or settings.AIPORTAL_INVITE_DAYS
    token = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        email=email,
        invited_by=invited_by,
        expires=timezone.now() + timedelta(days=days),
        token_digest=_digest(token),
    )
    audit_record(
        actor=invited_by,
        action="invite.create",
        target_type="accounts.invite",
        target_id=invite.pk,
        detail={"email": email, "days": days},
    )
    context = {"invite": invite, "link": link_for(token), "invited_by": invited_by}
    subject = render_to_string("accounts/email/invite_subject.txt", context).strip()
    body = render_to_string("accounts/email/invite_message.txt", context)
    # After the commit: a rolled-back invite must not have been mailed.
    transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email]))
    return invite, token


@transaction.atomic
def invite_revoke(*, invite: Invite, by: User | None) -> bool:
    """Revoke a live invite; its link stops working at once. Returns whether it changed (a
    used or already revoked invite is left as it is)."""
    changed = bool(
        Invite.objects.filter(pk=invite.pk, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )
    invite.refresh_from_db(fields=["revoked_at"])
    if changed:
        audit_record(
            actor=by,
            action="invite.revoke",
            target_type="accounts.invite",
            target_id=invite.pk,
            detail={"email": invite.email},
        )
    return changed


def invite_use(*, user: User) -> Invite | None:
    """Mark the live invite for ``user``'s address used by ``user``; None when there is none
    (another policy, or already used by this account: idempotent)."""
    invite = invite_live_for(email=user.email or "")
    if invite is None:
        return None
    # Conditional UPDATE: two sign-ups racing for one invite use it once.
    used = Invite.objects.filter(pk=invite.pk, used_at__isnull=True).update(
        used_at=timezone.now(), used_by=user
    )
    if not used:
        return None
    invite.refresh_from_db()
    audit_record(
        actor=user,
        action="invite.use",
        target_type="accounts.invite",
        target_id=invite.pk,
        detail={"email": invite.email},
    )
    return invite
