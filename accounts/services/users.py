from __future__ import annotations

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.audit.record import audit_record
from accounts.models import Preferences, User


@transaction.atomic
def user_create(*, email: str, password: str, is_staff: bool = False) -> User:
    """Create a user who can sign in with email and password at once (address verified)."""
    email = User.objects.normalize_email(email).lower()
    user = User(username=email, email=email, is_staff=is_staff, is_superuser=is_staff)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


def user_address_confirm(*, user: User) -> None:
    """Make the user's email their verified, primary sign-in address: for an account an
    admin created, who vouches for the address (no confirmation mail is sent)."""
    EmailAddress.objects.filter(user=user).exclude(email__iexact=user.email).update(primary=False)
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": True}
    )


@transaction.atomic
def user_ensure_admin(*, email: str, password: str) -> tuple[User, bool]:
    """Make sure an admin with this email exists and has this password. Returns (user, created)."""
    email = User.objects.normalize_email(email).lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return user_create(email=email, password=password, is_staff=True), True
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"primary": True, "verified": True}
    )
    return user, False


class StatusChangeRefused(Exception):
    """The change asked for is not allowed; the message says why, for the admin."""


@transaction.atomic
def user_status_set(*, user: User, status: str, by: User | None, ip: str | None = None) -> bool:
    """Set ``user``'s status (approve, suspend, reactivate) and record it in the audit log.
    Returns whether it changed. The save sends User's post_save, on which open websockets and
    cached API keys of the user are dropped (accounts/access/live.py, gateway/signals.py).
    An admin cannot suspend themselves: the last admin would lock everyone out."""
    if status not in User.Status.values:
        raise StatusChangeRefused(f"Unknown status {status!r}.")
    if by is not None and by.pk == user.pk and status != User.Status.ACTIVE:
        raise StatusChangeRefused(_("You cannot suspend your own account."))
    # Locked, so two admins acting at once record one change each, in order.
    current = User.objects.select_for_update().get(pk=user.pk)
    if current.status == status:
        user.status = status
        return False
    previous = current.status
    user.status = status
    user.save(update_fields=["status"])
    audit_record(
        actor=by,
        action="user.status.set",
        target_type="accounts.user",
        target_id=user.pk,
        detail={"from": previous, "to": status, "email": user.email},
        ip=ip,
    )
    if previous == User.Status.PENDING and status == User.Status.ACTIVE and user.email:
        transaction.on_commit(lambda: _approved_mail_send(user))
    return True


def _approved_mail_send(user: User) -> None:
    # In the language the person chose, if they did; else the approving admin's.
    chosen = Preferences.objects.filter(user=user).values_list("language", flat=True).first()
    with translation.override(chosen or translation.get_language()):
        subject = _("Your aiportal account is approved")
        body = _("An administrator approved your account: you can sign in and use aiportal now.")
    send_mail(subject, body + "\n", settings.DEFAULT_FROM_EMAIL, [user.email])
