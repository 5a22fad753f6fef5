"""Which period applies to whom (docs/operations.md, "Retention").

For one kind of data: a person in one or more groups that set a period for it gets the
shortest of those ("keep forever", None, is the longest); anyone else gets the default's.
The purge asks for *scopes*: each finite period with the people it applies to, so that one
batch query covers everyone with the same period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth.models import Group

from accounts.models import User
from retention.models import AUDIT, CONVERSATIONS, USAGE, GroupRetention, RetentionDefaults

Days = int | None  # None: keep forever


@dataclass(frozen=True)
class Scope:
    """A finite period and whom it applies to: ``user_ids`` (None: everyone not in
    ``exclude_user_ids``, the default's scope, which also holds rows without a person)."""

    days: int
    user_ids: frozenset[int] | None
    exclude_user_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.days)


def _shortest(periods: list[Days]) -> Days:
    finite = [days for days in periods if days is not None]
    return min(finite) if finite else None


def retention_default_days(*, kind: str) -> Days:
    defaults = RetentionDefaults.load()
    return {
        CONVERSATIONS: defaults.conversations_days,
        USAGE: defaults.usage_days,
        AUDIT: defaults.audit_days,
    }[kind]


def retention_days_for(*, user: User, kind: str) -> Days:
    """The period that applies to this person's ``kind`` of data."""
    group_ids = Group.objects.filter(user=user).values("pk")
    rules = list(
        GroupRetention.objects.filter(kind=kind, group_id__in=group_ids).values_list(
            "days", flat=True
        )
    )
    return _shortest(rules) if rules else retention_default_days(kind=kind)


def retention_scopes(*, kind: str) -> list[Scope]:
    """Every finite period of ``kind`` with the people it applies to (see ``Scope``); the
    people whose period is "keep forever" are in no scope."""
    rules = dict(GroupRetention.objects.filter(kind=kind).values_list("group_id", "days"))
    per_user: dict[int, list[Days]] = {}
    memberships = User.groups.through.objects.filter(group_id__in=list(rules))
    for user_id, group_id in memberships.values_list("user_id", "group_id"):
        per_user.setdefault(user_id, []).append(rules[group_id])
    by_days: dict[int, set[int]] = {}
    for user_id, periods in per_user.items():
        days = _shortest(periods)
        if days is not None:
            by_days.setdefault(days, set()).add(user_id)
    scopes = [Scope(days=days, user_ids=frozenset(ids)) for days, ids in sorted(by_days.items())]
    default = retention_default_days(kind=kind)
    if default is not None:
        scopes.append(Scope(days=default, user_ids=None, exclude_user_ids=frozenset(per_user)))
    return scopes
