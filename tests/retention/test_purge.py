"""The retention purge: what is past its period goes (conversations with their messages,
attachments' files and share links; usage records and their roll-ups; audit events), what is
not stays, a legal hold stops it, and it runs in batches that a kill cannot leave
half-done."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.legal_hold import legal_hold_place, legal_hold_release
from accounts.models import AuditEvent
from chat.models import Attachment, Conversation, ConversationShare, Message
from chat.services import retention as chat_retention
from gateway.models import UsageDay, UsageRecord
from retention.models import RetentionRun
from retention.services import purge
from retention.services.purge import RUN_TIME_LIMIT_S, retention_purge
from tests.retention.conftest import (
    group_with,
    old_conversation,
    set_defaults,
    shared_old_conversation,
    stored_files,
)

pytestmark = pytest.mark.django_db


def run_event(run: RetentionRun) -> AuditEvent:
    return AuditEvent.objects.get(action="retention.purge", target_id=str(run.pk))


def test_conversations_past_their_period_go_with_their_files_and_links(
    owner, attachments_dir, django_capture_on_commit_callbacks
):
    set_defaults(conversations=30)
    old = old_conversation(owner, days_idle=31, attach=True)
    old_shared, token = shared_old_conversation(owner, days_idle=40)
    recent = old_conversation(owner, days_idle=29, title="Recent")
    assert len(stored_files(attachments_dir)) == 1

    assert Client().get(f"/s/{token}/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):  # the files go once it commits
        run = retention_purge()

    assert list(Conversation.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Message.objects.filter(conversation_id__in=[old.pk, old_shared.pk]).exists()
    assert not Attachment.objects.exists() and stored_files(attachments_dir) == []
    # The link's digest stays, so its page can say the conversation is gone.
    assert ConversationShare.objects.get().conversation_id is None
    assert Client().get(f"/s/{token}/").status_code == 410
    assert run.complete and run.counts == {"conversations": 2, "messages": 4, "attachments": 1}
    event = run_event(run)
    assert event.actor is None and event.detail["conversations"] == 2
    assert event.detail["complete"] is True


def test_each_person_loses_only_what_is_past_their_own_period(owner, member, outsider):
    set_defaults(conversations=365)
    group_with("Sales", member, conversations=30)
    group_with("Legal", outsider, conversations=None)
    kept = [
        old_conversation(owner, days_idle=100),  # default: a year
        old_conversation(outsider, days_idle=1000),  # forever
        old_conversation(member, days_idle=20),
    ]
    old_conversation(owner, days_idle=400)
    old_conversation(member, days_idle=31)
    retention_purge()
    assert set(Conversation.objects.values_list("pk", flat=True)) == {c.pk for c in kept}


def test_usage_records_and_their_rollups_follow_the_usage_period(owner, member):
    set_defaults(usage=10)
    group_with("Interns", member, usage=3)
    now = timezone.now()
    today = timezone.localdate(now)

    def record(user, days_ago: int) -> UsageRecord:
        return UsageRecord.objects.create(
            user=user, source="api", model="m", outcome="complete",
            created_at=now - timedelta(days=days_ago),
        )  # fmt: skip

    def day(user, days_ago: int) -> UsageDay:
        return UsageDay.objects.create(
            user=user, day=today - timedelta(days=days_ago), model="m", source="api"
        )

    kept = {record(owner, 5).pk, record(member, 2).pk, record(owner, 0).pk}
    kept_days = {day(owner, 5).pk, day(member, 2).pk}
    record(owner, 12), record(member, 5), record(None, 40)  # a refill's: the default's
    day(owner, 12), day(member, 5)

    run = retention_purge()
    assert set(UsageRecord.objects.values_list("pk", flat=True)) == kept
    assert set(UsageDay.objects.values_list("pk", flat=True)) == kept_days
    assert run.counts["usage_records"] == 3 and run.counts["usage_days"] == 2


def test_audit_events_go_only_under_their_own_policy(owner):
    old = AuditEvent.objects.create(action="auth.login", target_type="user", target_id=owner.pk)
    set_defaults(conversations=1, usage=1)  # conversation and usage periods: not the log's
    retention_purge(now=timezone.now() + timedelta(days=400))
    assert AuditEvent.objects.filter(pk=old.pk).exists()

    set_defaults(audit=365)
    run = retention_purge(now=timezone.now() + timedelta(days=400))
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert run.counts["audit_events"] >= 1
    assert run_event(run).detail["audit_events"] == run.counts["audit_events"]


def test_a_legal_hold_stops_the_purge_until_it_is_released(owner, member, staff):
    set_defaults(conversations=30, usage=30)
    held = old_conversation(owner, days_idle=100)
    record = UsageRecord.objects.create(
        user=owner, source="api", model="m", outcome="complete",
        created_at=timezone.now() - timedelta(days=100),
    )  # fmt: skip
    other = old_conversation(member, days_idle=100)
    hold = legal_hold_place(user=owner, reason="Case 42", by=staff, ip=None)

    retention_purge()
    assert Conversation.objects.filter(pk=held.pk).exists()
    assert UsageRecord.objects.filter(pk=record.pk).exists()
    assert not Conversation.objects.filter(pk=other.pk).exists()

    legal_hold_release(hold=hold, by=staff, ip=None)
    retention_purge()
    assert not Conversation.objects.filter(pk=held.pk).exists()
    assert not UsageRecord.objects.filter(pk=record.pk).exists()


def test_a_run_works_in_bounded_batches_and_the_next_run_goes_on(owner):
    set_defaults(conversations=30)
    for index in range(5):
        old_conversation(owner, days_idle=40 + index)
    first = retention_purge(batch_size=2, max_batches=2)
    assert first.counts["conversations"] == 4 and not first.complete
    assert run_event(first).detail["complete"] is False
    second = retention_purge(batch_size=2, max_batches=2)
    assert second.counts["conversations"] == 1 and second.complete
    # Idempotent: nothing is left, a third run deletes nothing.
    assert retention_purge(batch_size=2).counts["conversations"] == 0


def test_a_run_killed_between_batches_keeps_what_it_committed_and_the_next_run_resumes(
    owner, monkeypatch
):
    set_defaults(conversations=30)
    for index in range(5):
        old_conversation(owner, days_idle=40 + index)
    real_batch = chat_retention.conversation_expired_purge_batch
    calls = []

    def killed_on_the_second_batch(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise SystemExit("killed")  # what a kill leaves: nothing after this point
        return real_batch(**kwargs)

    monkeypatch.setattr(purge, "conversation_expired_purge_batch", killed_on_the_second_batch)
    with pytest.raises(SystemExit):
        retention_purge(batch_size=2)
    monkeypatch.undo()

    # The first batch is committed, and counted in its run's row; the second left nothing.
    assert Conversation.objects.count() == 3
    killed = RetentionRun.objects.get()
    assert killed.finished_at is None and killed.counts["conversations"] == 2
    assert not AuditEvent.objects.filter(action__startswith="retention.").exists()

    # The next hourly run (the killed one's time limit long passed) goes on and records it.
    later = timezone.now() + timedelta(seconds=RUN_TIME_LIMIT_S + 1)
    resumed = retention_purge(batch_size=2, now=later)
    assert resumed.counts["conversations"] == 3 and resumed.complete
    assert not Conversation.objects.exists()
    interrupted = AuditEvent.objects.get(action="retention.purge.interrupted")
    assert interrupted.target_id == str(killed.pk) and interrupted.detail["conversations"] == 2
    killed.refresh_from_db()
    assert killed.finished_at is not None and not killed.complete
