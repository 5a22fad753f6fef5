"""Legal holds (docs/operations.md, "Legal hold"): placing and releasing one, and the checks
every deletion path makes.

Who deletes what checks here: the retention purge (retention/services/purge.py) leaves the
held people's rows alone, a conversation a held person deletes is hidden from them but kept
(chat/services/conversations.py), and deleting a held account is refused
(accounts/privacy/deletion.py). Placing a hold locks the person's row, as each purge batch
does before it deletes: a hold placed while a batch runs waits for it, and the next batch
sees the hold.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import LegalHold, User


def legal_hold_active(*, user_id: int) -> bool:
    return LegalHold.objects.filter(user_id=user_id, released_at__isnull=True).exists()


def held_user_ids() -> QuerySet:
    """The ids of the people under an active hold, as a subquery for ``__in``."""
    return LegalHold.objects.filter(released_at__isnull=True).values("user_id")


@transaction.atomic
def legal_hold_place(*, user: User, reason: str, by: User | None, ip: str | None) -> LegalHold:
    User.objects.select_for_update().filter(pk=user.pk).first()
    hold = LegalHold.objects.create(user=user, reason=reason.strip(), placed_by=by)
    # The reason stays in the hold's row (admins only), not in the log: it may name a case.
    audit_record(
        actor=by, action="legal_hold.place", target_type="user", target_id=user.pk,
        detail={"hold": hold.pk}, ip=ip,
    )  # fmt: skip
    return hold


@transaction.atomic
def legal_hold_release(*, hold: LegalHold, by: User | None, ip: str | None) -> bool:
    """Release an active hold; False when it was released already (nothing is recorded)."""
    released = LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
        released_at=timezone.now(), released_by=by
    )
    if released:
        audit_record(
            actor=by, action="legal_hold.release", target_type="user", target_id=hold.user_id,
            detail={"hold": hold.pk}, ip=ip,
        )  # fmt: skip
    return bool(released)
