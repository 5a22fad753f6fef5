"""The gateway's part of the retention purge (retention/services/purge.py): one bounded
batch of usage records, and of their daily roll-ups, older than a cutoff, for a set of
people.

The roll-ups (``UsageDay``) follow the ledger's policy: a roll-up row names a person and a
day, so keeping it would keep what the policy said to forget. Cutoffs are whole days in the
server's time zone, so the ledger and its roll-ups lose the same days, and a day still being
rolled up (today, yesterday) is never cut while the period is at least one day.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.legal_hold import held_user_ids
from gateway.models import UsageDay, UsageRecord


def usage_cutoff(*, keep_from: date) -> datetime:
    """The first moment kept: midnight (server time) starting ``keep_from``."""
    return timezone.make_aware(datetime.combine(keep_from, time.min))


def _scoped(
    rows: QuerySet, *, user_ids: Collection[int] | None, exclude_user_ids: Collection[int]
) -> QuerySet:
    if user_ids is not None:
        rows = rows.filter(user_id__in=list(user_ids))
    if exclude_user_ids:
        # exclude() keeps the rows without a user (a refill's embeddings): the default
        # policy's scope holds them.
        rows = rows.exclude(user_id__in=list(exclude_user_ids))
    return rows.exclude(user_id__in=held_user_ids())


def usage_purge_batch(
    *,
    keep_from: date,
    user_ids: Collection[int] | None,
    exclude_user_ids: Collection[int] = (),
    limit: int,
) -> dict[str, int]:
    """Delete at most ``limit`` usage records made before ``keep_from`` (and at most
    ``limit`` roll-up rows of days before it) of the people in ``user_ids`` (None: anyone,
    records without a person included) and not in ``exclude_user_ids``, never those of a
    person under a legal hold. One transaction; returns how many of each went."""
    cutoff = usage_cutoff(keep_from=keep_from)
    with transaction.atomic():
        records = _scoped(
            UsageRecord.objects.filter(created_at__lt=cutoff),
            user_ids=user_ids,
            exclude_user_ids=exclude_user_ids,
        )
        record_ids = list(records.order_by("created_at").values_list("pk", flat=True)[:limit])
        days = _scoped(
            UsageDay.objects.filter(day__lt=keep_from),
            user_ids=user_ids,
            exclude_user_ids=exclude_user_ids,
        )
        day_ids = list(days.order_by("day").values_list("pk", flat=True)[:limit])
        purged_records, _ = UsageRecord.objects.filter(pk__in=record_ids).delete()
        purged_days, _ = UsageDay.objects.filter(pk__in=day_ids).delete()
    return {"usage_records": purged_records, "usage_days": purged_days}
