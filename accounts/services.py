from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import transaction

from accounts.models import AuditEvent, User


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


def audit_record(
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: object = "",
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit event. Called inside the transaction of the change it records, so
    that the event and the change are kept (or rolled back) together."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action[:100],
        target_type=target_type[:100],
        target_id=str(target_id)[:100],
        detail=detail or {},
        ip=ip or None,
    )
