"""Delete my account: the person's conversations, keys, owned datasets (with their stored
files), export archives and the account itself, in one transaction. What stays is one audit
event without content: the actor becomes null with the account, the detail holds the old id
and the SHA-256 of the email address, so an admin can answer "was this address deleted?"
without the log keeping the address (docs/accounts.md, "Your data")."""

from __future__ import annotations

import hashlib

from django.db import transaction

from accounts.export import data_exports_discard
from accounts.models import User
from accounts.services import audit_record
from chat.models import Conversation
from datasets.models import Dataset
from datasets.services.sovereignty import dataset_delete
from gateway import policies_version_bump
from gateway.models import ApiKey


class AccountDeletionRefused(Exception):
    """The account may not be deleted now; the message says why and what to do."""


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def account_delete_check(*, user: User, confirm_email: str) -> None:
    """Raise AccountDeletionRefused unless this account may be deleted with this typing."""
    if confirm_email.strip().lower() != (user.email or "").lower():
        raise AccountDeletionRefused("Type your email address exactly to confirm.")
    if user.is_superuser:
        others = User.objects.filter(
            is_superuser=True, is_active=True, status=User.Status.ACTIVE
        ).exclude(pk=user.pk)
        if not others.exists():
            raise AccountDeletionRefused(
                "You are the last active superuser: make someone else a superuser first, "
                "or nobody could administer this portal."
            )


def account_delete(*, user: User, confirm_email: str, ip: str | None = None) -> None:
    """Delete the account and everything it owns (see the module's docstring)."""
    account_delete_check(user=user, confirm_email=confirm_email)
    user_id = user.pk
    with transaction.atomic():
        # Lock the row: two superusers deleting themselves at once must not both pass.
        user = User.objects.select_for_update().get(pk=user_id)
        if user.is_superuser:
            list(User.objects.select_for_update().filter(is_superuser=True))
            account_delete_check(user=user, confirm_email=confirm_email)
        datasets = list(Dataset.objects.filter(owner=user))
        for dataset in datasets:
            # The datasets' own service: it removes their stored files once this commits.
            dataset_delete(dataset=dataset, user=user, ip=ip)
        conversations = Conversation.objects.filter(owner=user).count()
        Conversation.objects.filter(owner=user).delete()
        keys = ApiKey.objects.filter(user=user).count()
        ApiKey.objects.filter(user=user).delete()
        data_exports_discard(user=user)
        audit_record(
            actor=user,
            action="account.delete",
            target_type="user",
            target_id=user_id,
            detail={
                "user_id": user_id,
                "email_sha256": email_digest(user.email),
                "datasets": len(datasets),
                "api_keys": keys,
                "conversations": conversations,
            },
            ip=ip,
        )
        user.delete()  # the audit events' actor becomes null (SET_NULL)
        # Web processes cache the keys they have seen: make them look again.
        transaction.on_commit(policies_version_bump)
