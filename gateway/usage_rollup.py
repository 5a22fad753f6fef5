"""Keeping ``UsageDay`` (the usage page's daily roll-ups) in step with the ledger.

A day is rebuilt whole: its roll-up rows are replaced, in one transaction, by a GROUP BY
over that day's usage records (a range scan on ``created_at``'s index). Rebuilding instead of
adding new records to running totals makes the job idempotent and self-healing: a run that
died, a record written late (``usage_record_later`` batches) or one committed out of id order
is counted by the next run, never twice and never lost. The beat rebuilds today and
yesterday every few minutes (``usage_rollup_recent``); ``manage.py usage_rollup`` rebuilds
any range, for the history that predates the roll-ups.

Days are in the server's time zone (``TIME_ZONE``), as the admin shows dates.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from gateway.models import TTFT_BOUNDS, UsageDay, UsageRecord, ttft_field

logger = logging.getLogger(__name__)

_SUMS = ("prompt_tokens", "completion_tokens", "cached_tokens", "failovers", "continued")
_FAILED = (UsageRecord.Outcome.ERROR, UsageRecord.Outcome.INTERRUPTED)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone)
    return start, end


def _ttft_counts() -> dict[str, Count]:
    counts: dict[str, Count] = {}
    lower = None
    for index in range(len(TTFT_BOUNDS) + 1):
        upper = TTFT_BOUNDS[index] if index < len(TTFT_BOUNDS) else None
        where = Q(ttft_ms__isnull=False)
        if lower is not None:
            where &= Q(ttft_ms__gt=lower)
        if upper is not None:
            where &= Q(ttft_ms__lte=upper)
        counts[ttft_field(index)] = Count("id", filter=where)
        lower = upper
    return counts


def _day_sums(day: date) -> QuerySet:
    start, end = _day_bounds(day)
    return (
        UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values("user_id", "model", "source")
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(outcome__in=_FAILED)),
            **{name: Coalesce(Sum(name), 0) for name in _SUMS},
            **_ttft_counts(),
        )
    )


@transaction.atomic
def usage_rollup_day(*, day: date) -> int:
    """Replace ``day``'s roll-up rows with sums of its usage records; returns how many rows
    it now has. The rows are locked and swapped in one transaction: the page reads either
    the old sums or the new ones."""
    rows = [UsageDay(day=day, **sums) for sums in _day_sums(day)]
    UsageDay.objects.filter(day=day).delete()
    UsageDay.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def usage_rollup_range(*, first: date, last: date) -> int:
    """Rebuild every day from ``first`` to ``last`` (both included), one transaction each."""
    total, day = 0, first
    while day <= last:
        total += usage_rollup_day(day=day)
        day += timedelta(days=1)
    return total


def usage_rollup_recent(*, now: datetime | None = None) -> int:
    """Today and yesterday: the days records may still arrive for (a request that ran over
    midnight is recorded when it ends)."""
    today = timezone.localdate(now)
    return usage_rollup_range(first=today - timedelta(days=1), last=today)


def usage_rollup_all() -> int:
    """Every day the ledger has records for (after an upgrade, or to repair)."""
    first = UsageRecord.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return 0
    return usage_rollup_range(first=timezone.localdate(first), last=timezone.localdate())
