"""Writes on the user row itself: creating a user, the first admin, a status change. Writes
that belong to one purpose sit with it: invitations in ``accounts/signup/``, export and
deletion in ``accounts/privacy/``, sessions in ``accounts/signin/sessions.py``, audit events
in ``accounts/audit/`` (docs/accounts.md, "Where things are")."""

from accounts.services.users import (
    StatusChangeRefused,
    user_address_confirm,
    user_create,
    user_ensure_admin,
    user_status_set,
)

__all__ = [
    "StatusChangeRefused",
    "user_address_confirm",
    "user_create",
    "user_ensure_admin",
    "user_status_set",
]
