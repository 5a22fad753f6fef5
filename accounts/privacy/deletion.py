"""Delete my account: the person's owned datasets (with their stored files), conversations,
keys, export archives and the account itself, in one transaction. Each app deletes its own
rows through the hook it registered (accounts/privacy/hooks.py); this deletes the archives and
the user row. What stays is one audit event without content: the actor becomes null with the
account, the detail holds the old id, the SHA-256 of the email address and how many of each
thing went, so an admin can answer "was this address deleted?" without the log keeping the
address (docs/accounts.md, "Your data")."""

from __future__ import annotations

import hashlib

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.legal_hold import legal_hold_active
from accounts.models import LegalHold, User
from accounts.privacy.export import data_exports_discard
from accounts.privacy.hooks import privacy_hook_list


class AccountDeletionRefused(Exception):
    """The account may not be deleted now; the message says why and what to do."""


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def account_delete_check(*, user: User, confirm_email: str) -> None:
    """Raise AccountDeletionRefused unless this account may be deleted with this typing."""
    if confirm_email.strip().lower() != (user.email or "").lower():
        raise AccountDeletionRefused(_("Type your email address exactly to confirm."))
    if legal_hold_active(user_id=user.pk):
        # Neutral on purpose: a legal hold is confidential (docs/operations.md, "Legal
        # hold"). Refused rather than faked: telling a person their data is gone while it is
        # kept would be worse than not deleting it.
        raise AccountDeletionRefused(
            _("Your account cannot be deleted at the moment. Please contact your administrator.")
        )
    if user.is_superuser:
        others = User.objects.filter(
            is_superuser=True, is_active=True, status=User.Status.ACTIVE
        ).exclude(pk=user.pk)
        if not others.exists():
            raise AccountDeletionRefused(
                _(
                    "You are the last active superuser: make someone else a superuser first, "
                    "or nobody could administer this portal."
                )
            )


def account_delete(*, user: User, confirm_email: str, ip: str | None = None) -> None:
    """Delete the account and everything it owns (see the module's docstring)."""
    account_delete_check(user=user, confirm_email=confirm_email)
    user_id = user.pk
    with transaction.atomic():
        # Lock the row: two superusers deleting themselves at once must not both pass, and
        # a legal hold placed meanwhile (it locks the row too) is seen by the check below.
        user = User.objects.select_for_update().get(pk=user_id)
        if user.is_superuser:
            list(User.objects.select_for_update().filter(is_superuser=True))
        account_delete_check(user=user, confirm_email=confirm_email)
        # The apps listed last first (datasets, chat, then the gateway's keys): their rows
        # may refer to those of the apps listed before them.
        counts: dict[str, int] = {}
        for hook in reversed(privacy_hook_list()):
            counts.update(hook.delete(user=user, ip=ip))
        data_exports_discard(user=user)
        # Released holds only (an active one refused the deletion above); their placing
        # and release stay in the audit log.
        LegalHold.objects.filter(user=user, released_at__isnull=False).delete()
        audit_record(
            actor=user,
            action="account.delete",
            target_type="user",
            target_id=user_id,
            detail={
                "user_id": user_id,
                "email_sha256": email_digest(user.email),
                **counts,
            },
            ip=ip,
        )
        user.delete()  # the audit events' actor becomes null (SET_NULL)
