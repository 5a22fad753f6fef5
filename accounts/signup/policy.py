"""Who may create an account, on every path that creates one (docs/accounts.md, "Sign-up").

One decision for the sign-up page, the first SSO login and any other path, so that no path is
more open than the policy says. ``AIPORTAL_SIGNUP`` is one of:

- ``closed`` (default): only admins create accounts; an SSO login links to an existing one.
- ``open``: anyone may sign up, locally or through SSO.
- ``invite``: only an email address an admin invited.
- ``domains``: only addresses in ``AIPORTAL_SIGNUP_DOMAINS``.
- ``sso_only``: no local sign-up; a first SSO login creates the account (within
  ``AIPORTAL_SIGNUP_DOMAINS`` when that is set).

Accounts made by a directory the operator configured (LDAP, a trusted proxy header) are the
directory's decision and are not gated here. ``AIPORTAL_SIGNUP_APPROVAL`` makes every new
account wait for an admin, whatever made it.
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.models import AuditEvent, User

Via = Literal["local", "sso", "directory"]


def _domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def _invited(email: str) -> bool:
    """Whether an admin invited this address: a live (unused, unrevoked, unexpired) invite."""
    from accounts.signup.invites import invite_live_for  # invites imports services, which import us

    return invite_live_for(email=email) is not None


def signup_refusal(*, email: str | None, via: Via) -> str | None:
    """Why an account for ``email`` may not be created through ``via``, or None if it may.
    ``email`` is None when the page asks before anyone typed one (is sign-up open at all?)."""
    if via == "directory":
        return None
    policy = settings.AIPORTAL_SIGNUP
    if policy == "open":
        return None
    if policy == "closed":
        return _("Sign-up is closed: ask an administrator for an account.")
    if policy == "sso_only":
        if via != "sso":
            return _("Accounts are created by signing in with your organisation's single sign-on.")
        policy = "domains" if settings.AIPORTAL_SIGNUP_DOMAINS else "open"
        if policy == "open":
            return None
    if email is None:
        return None  # invite/domains: open in principle, decided once the address is known
    if policy == "domains":
        allowed = {d.lower() for d in settings.AIPORTAL_SIGNUP_DOMAINS}
        if _domain(email) not in allowed:
            return _("Sign-up is limited to addresses of this organisation's domains.")
        return None
    if policy == "invite":
        return None if _invited(email) else _("Sign-up needs an invitation for this address.")
    raise AssertionError(f"unknown signup policy {policy!r}")  # settings validate it


def signup_complete(user: User) -> None:
    """What every path that created an account does next (the local sign-up, a first SSO
    login, an admin's invite accepted): use up the invite for its address and record the
    event. Idempotent, so a path that calls it and also sends allauth's ``user_signed_up``
    (connected in accounts/apps.py) is counted once."""
    from accounts.audit import audit_record
    from accounts.signup.invites import invite_use

    if AuditEvent.objects.filter(
        action="account.signup", target_type="accounts.user", target_id=str(user.pk)
    ).exists():
        return
    invite = invite_use(user=user)
    audit_record(
        actor=user,
        action="account.signup",
        target_type="accounts.user",
        target_id=user.pk,
        detail={
            "policy": settings.AIPORTAL_SIGNUP,
            "status": user.status,
            "invite": invite.pk if invite else None,
        },
    )


def new_user_status() -> str:
    """The status an account starts with: pending while admin approval is required."""
    return User.Status.PENDING if settings.AIPORTAL_SIGNUP_APPROVAL else User.Status.ACTIVE
