"""The audit log's receivers: sign-ins and their failures, sign-outs, MFA changes and every
change made in Django's admin become ``AuditEvent`` rows (docs/accounts.md, "Audit log").

What a row may hold: who (the actor), what (the action and its target), when, from where
(the client's address), and a small ``detail`` without secrets or content: never a
password, a key, a message or a document, only names of fields and identifiers.

Connected from ``AccountsConfig.ready``. The MFA receivers are connected only when
``allauth.mfa`` is installed.
"""

from __future__ import annotations

import contextvars
import logging

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

from accounts.audit.record import audit_record, request_ip

logger = logging.getLogger(__name__)

# The address of the request being served, for receivers that are not given the request
# (the admin's LogEntry): set by AuditRequestMiddleware (accounts/audit/middleware.py).
current_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "audit_current_ip", default=None
)

_ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


# --- Sign-in, sign-out ----------------------------------------------------------------------


def on_user_logged_in(sender, request, user, **_: object) -> None:
    audit_record(
        actor=user, action="auth.login", target_type="user", target_id=user.pk,
        ip=request_ip(request),
    )  # fmt: skip


def on_user_logged_out(sender, request, user, **_: object) -> None:
    if user is None or user.pk is None:  # no one was signed in, or the account was deleted
        return
    audit_record(
        actor=user, action="auth.logout", target_type="user", target_id=user.pk,
        ip=request_ip(request),
    )  # fmt: skip


def on_user_login_failed(sender, credentials, request=None, **_: object) -> None:
    """A failed sign-in names the account only when it exists: what someone typed into the
    email field may be their password, and an unknown address is kept out of the log."""
    typed = str(credentials.get("email") or credentials.get("username") or "").strip()
    user = get_user_model().objects.filter(email__iexact=typed).first() if typed else None
    audit_record(
        actor=None,
        action="auth.login_failed",
        target_type="user",
        target_id=user.pk if user else "",
        detail={"email": user.email} if user else {"unknown_account": True},
        ip=request_ip(request),
    )


# --- MFA (allauth.mfa) ----------------------------------------------------------------------


def _mfa_receiver(action: str):
    def receive(sender, request, user, authenticator=None, **_: object) -> None:
        detail = {"type": authenticator.type} if authenticator is not None else {}
        audit_record(
            actor=user,
            action=action,
            target_type="user",
            target_id=user.pk,
            detail=detail,
            ip=request_ip(request),
        )

    receive.__name__ = f"on_{action.replace('.', '_')}"
    return receive


on_mfa_added = _mfa_receiver("mfa.add")
on_mfa_removed = _mfa_receiver("mfa.remove")
on_mfa_reset = _mfa_receiver("mfa.reset")


# --- Django admin ---------------------------------------------------------------------------


def admin_entry_record(entry: LogEntry) -> None:
    """One admin add, change or delete: the model and object, and the names of the fields
    changed (Django's change message holds names, not values)."""
    # From the content-type cache that the admin filled when it wrote the entry: no query
    # (and the same answer where content types were re-created under a running process, as
    # the test suite's flushes do).
    content_type = (
        ContentType.objects.get_for_id(entry.content_type_id) if entry.content_type_id else None
    )
    target_type = f"{content_type.app_label}.{content_type.model}" if content_type else "unknown"
    audit_record(
        actor=entry.user,
        action=_ADMIN_ACTIONS.get(entry.action_flag, "admin.other"),
        target_type=target_type,
        target_id=entry.object_id or "",
        detail={
            "object": entry.object_repr[:200],
            "change": entry.get_change_message()[:1000],
            "log_entry": entry.pk,
        },
        ip=current_ip.get(),
    )


def on_admin_log_entry_saved(sender, instance: LogEntry, created: bool, raw=False, **_) -> None:
    if created and not raw:
        admin_entry_record(instance)
