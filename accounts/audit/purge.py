"""The one sanctioned way audit events are deleted: the retention purge of events older
than the audit policy's period (retention/services/purge.py; docs/operations.md, "The audit
log is append-only").

On PostgreSQL a trigger (migration accounts/0NNN_audit_append_only) refuses every UPDATE of
an event, except a deleted actor's id becoming null (the foreign key's SET NULL), and every
DELETE unless the transaction set ``aiportal.audit_purge`` to ``on``. Only this function
sets it, with ``set_config(..., true)`` (local to its transaction), for its one DELETE.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction

from accounts.models import AuditEvent, LegalHold

PURGE_SETTING = "aiportal.audit_purge"


def audit_events_purge_batch(*, before: datetime, limit: int) -> int:
    """Delete at most ``limit`` events older than ``before``, never one whose actor or
    target is a person under a legal hold. One transaction; returns how many went."""
    with transaction.atomic():
        # The holds read here, not through accounts/legal_hold.py, which records to this log.
        held_ids = list(
            LegalHold.objects.filter(released_at__isnull=True).values_list("user_id", flat=True)
        )
        held = [str(user_id) for user_id in held_ids]
        ids = list(
            AuditEvent.objects.filter(at__lt=before)
            .exclude(actor_id__in=held_ids)
            .exclude(target_type="user", target_id__in=held)
            .order_by("at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        _purge_allow(True)
        deleted, _ = AuditEvent.objects.filter(pk__in=ids).delete()
        # Off again at once: even when this runs inside a longer transaction, the permission
        # covers this one DELETE and nothing after it.
        _purge_allow(False)
    return deleted


def _purge_allow(allowed: bool) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config(%s, %s, true)", [PURGE_SETTING, "on" if allowed else "off"]
            )
