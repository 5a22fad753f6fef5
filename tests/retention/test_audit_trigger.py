"""The audit table is append-only in PostgreSQL itself: a raw UPDATE or DELETE is refused by
a trigger, whoever sends it; a deleted person's events lose only their actor; the retention
purge is the one path that deletes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.audit.purge import audit_events_purge_batch
from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


def refused(sql: str, params: list) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_a_raw_update_or_delete_is_refused(owner):
    assert connection.vendor == "postgresql"
    event = audit_record(actor=owner, action="auth.login", target_type="user", target_id=owner.pk)
    refused("UPDATE accounts_auditevent SET action = 'x' WHERE id = %s", [event.pk])
    refused("UPDATE accounts_auditevent SET actor_id = NULL, ip = '10.0.0.1' WHERE id = %s",
            [event.pk])  # fmt: skip
    refused("DELETE FROM accounts_auditevent WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.action == "auth.login"


def test_deleting_a_person_keeps_their_events_without_the_actor(make_user):
    person = make_user("leaving@example.com")
    event = audit_record(actor=person, action="auth.login", target_type="user", target_id=person.pk)
    person.delete()
    event.refresh_from_db()
    assert event.actor_id is None and event.action == "auth.login"


def test_the_purge_is_the_one_path_that_deletes(owner):
    old = audit_record(actor=owner, action="auth.login", target_type="user", target_id=owner.pk)
    assert audit_events_purge_batch(before=timezone.now() + timedelta(seconds=1), limit=10) >= 1
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    # The permission covered the purge's DELETE only.
    kept = audit_record(actor=owner, action="auth.logout", target_type="user", target_id=owner.pk)
    refused("DELETE FROM accounts_auditevent WHERE id = %s", [kept.pk])
