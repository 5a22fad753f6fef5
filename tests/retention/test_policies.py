"""Which period applies to whom: the default where no group sets one, the shortest of the
person's groups otherwise, "keep forever" the longest of all."""

from __future__ import annotations

import pytest
from django.utils import translation

from retention.models import CONVERSATIONS, USAGE, RetentionDefaults
from retention.notices import conversations_kept_notice
from retention.selectors import Scope, retention_days_for, retention_scopes
from tests.retention.conftest import group_with, set_defaults

pytestmark = pytest.mark.django_db


def test_until_an_admin_saves_the_defaults_everything_is_kept_forever(owner):
    assert RetentionDefaults.load().pk == 1 and not RetentionDefaults.objects.exists()
    assert retention_days_for(user=owner, kind=CONVERSATIONS) is None
    assert retention_scopes(kind=CONVERSATIONS) == []


def test_the_default_applies_to_whoever_is_in_no_group_with_a_period(owner, member):
    set_defaults(conversations=90)
    group_with("Interns", member, usage=7)  # a usage period: says nothing of conversations
    assert retention_days_for(user=owner, kind=CONVERSATIONS) == 90
    assert retention_days_for(user=member, kind=CONVERSATIONS) == 90
    assert retention_days_for(user=member, kind=USAGE) == 7
    assert retention_days_for(user=owner, kind=USAGE) is None


def test_the_shortest_period_of_the_persons_groups_wins(owner, member, outsider):
    set_defaults(conversations=365)
    group_with("Legal", owner, member, conversations=None)  # keep forever
    group_with("Sales", member, conversations=30)
    group_with("Support", member, conversations=60)
    assert retention_days_for(user=member, kind=CONVERSATIONS) == 30
    # A group's "keep forever" overrides the default for its members.
    assert retention_days_for(user=owner, kind=CONVERSATIONS) is None
    assert retention_days_for(user=outsider, kind=CONVERSATIONS) == 365


def test_scopes_put_each_person_under_one_period(owner, member, outsider):
    set_defaults(conversations=365)
    group_with("Legal", owner, conversations=None)
    group_with("Sales", member, conversations=30)
    assert retention_scopes(kind=CONVERSATIONS) == [
        Scope(days=30, user_ids=frozenset({member.pk})),
        Scope(days=365, user_ids=None, exclude_user_ids=frozenset({owner.pk, member.pk})),
    ]


def test_a_default_kept_forever_leaves_only_the_groups_scopes(owner, member):
    set_defaults(conversations=None)
    group_with("Sales", member, conversations=30)
    assert retention_scopes(kind=CONVERSATIONS) == [Scope(days=30, user_ids=frozenset({member.pk}))]


def test_the_data_page_sentence_follows_the_persons_period(owner, member, settings):
    set_defaults(conversations=None)
    group_with("Sales", member, conversations=1)
    assert conversations_kept_notice(owner) == "Your conversations are kept until you delete them."
    assert conversations_kept_notice(member).startswith(
        "Your conversations are kept for 1 day after their last message"
    )
    with translation.override("fr"):
        assert conversations_kept_notice(member).startswith(
            "Vos conversations sont conservées 1 jour après"
        )


def test_the_beat_runs_the_purge_hourly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["retention-purge"]
    assert entry == {"task": "retention.tasks.retention_purge_run", "schedule": 3600.0}
