"""Reads for the admin's usage page: totals, daily series and percentiles over a period,
split by model, group, user or source. Only the daily roll-ups (``UsageDay``) are read,
never the ledger: a month is a few thousand rows whatever the traffic was.

A user in two groups counts in both groups' figures (the groups they are in now); the
totals count each request once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gateway.costs import Cost, cost_sum, prices_by_model
from gateway.models import TTFT_BOUNDS, UsageDay, UsageRecord, ttft_field

SPLITS = {
    "model": _("Model"),
    "group": _("Group"),
    "user": _("User"),
    "source": _("Source"),
}
SUMS = (
    "requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "failovers",
    "continued",
)  # fmt: skip
TTFT_FIELDS = tuple(ttft_field(i) for i in range(len(TTFT_BOUNDS) + 1))
PERCENTILES = (50, 90, 99)
SERIES_MAX = 6  # the largest keys get a colour each; the rest are summed as "other"
OTHER = "other"

# Each split's column in a roll-up row, and what a row without a value is called.
_COLUMNS = {
    "model": ("model", "(no model)"),
    "group": ("user__groups__name", "(no group)"),
    # A deleted user's records, and the project's own (a dataset refill's embeddings).
    "user": ("user__email", "(no user)"),
    "source": ("source", ""),
}
_SOURCE_LABELS = dict(UsageRecord.Source.choices)


def ttft_percentiles(counts: list[int]) -> dict[int, int | None]:
    """The bucket bound (ms) under which p % of the first tokens came, per percentile; None
    when there is no request with a first token or when it is slower than the last bound."""
    total = sum(counts)
    found: dict[int, int | None] = {}
    for p in PERCENTILES:
        if not total:
            found[p] = None
            continue
        target, seen = math.ceil(total * p / 100), 0
        for index, count in enumerate(counts):
            seen += count
            if seen >= target:
                found[p] = TTFT_BOUNDS[index] if index < len(TTFT_BOUNDS) else None
                break
    return found


@dataclass
class Series:
    key: str
    tokens: list[int]
    requests: list[int]

    @property
    def total_tokens(self) -> int:
        return sum(self.tokens)


@dataclass
class Report:
    first: date
    last: date
    split: str
    days: list[date]
    totals: dict[str, int]
    ttft: dict[int, int | None]
    ttft_count: int
    series: list[Series]
    table: list[dict[str, Any]]
    failovers: list[int]
    continued: list[int]
    rolled_at: datetime | None
    # Whether the ledger holds records the roll-ups do not count yet (the beat is not
    # running, or has not run since): the page offers to roll up now.
    behind: bool = field(default=False)
    # What the period cost at the admin's model prices; None when no model has a price
    # (the page then shows no cost column). Each table row has its own "cost".
    cost: Cost | None = None


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _key(split: str, value: Any) -> str:
    empty = _COLUMNS[split][1]
    if split == "source":
        return _SOURCE_LABELS.get(value, value or "")
    return str(value) if value not in (None, "") else empty


def _rows(*, first: date, last: date, split: str, by_day: bool) -> Iterator[dict[str, Any]]:
    column = _COLUMNS[split][0]
    group = ["day", column] if by_day else [column]
    rows = (
        UsageDay.objects.filter(day__gte=first, day__lte=last)
        .order_by()
        .values(*group)
        .annotate(**{name: Sum(name) for name in (*SUMS, *TTFT_FIELDS)})
    )
    for row in rows:
        yield {**row, "key": _key(split, row[column])}


def usage_report(*, first: date, last: date, split: str) -> Report:
    """The usage page's figures from ``first`` to ``last`` (both included)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    days = _days(first, last)
    index = {day: n for n, day in enumerate(days)}
    period = UsageDay.objects.filter(day__gte=first, day__lte=last).order_by()
    aggregate = period.aggregate(
        **{name: Sum(name) for name in (*SUMS, *TTFT_FIELDS)}, rolled_at=Max("rolled_at")
    )
    totals = {name: aggregate[name] or 0 for name in SUMS}
    histogram = [aggregate[name] or 0 for name in TTFT_FIELDS]
    # Failovers and continuations per day, whatever the split.
    failovers, continued = [0] * len(days), [0] * len(days)
    for row in period.values("day").annotate(f=Sum("failovers"), c=Sum("continued")):
        failovers[index[row["day"]]] = row["f"] or 0
        continued[index[row["day"]]] = row["c"] or 0

    table = sorted(
        (
            {
                "key": row["key"],
                **{name: row[name] or 0 for name in SUMS},
                "ttft": ttft_percentiles([row[name] or 0 for name in TTFT_FIELDS]),
            }
            for row in _rows(first=first, last=last, split=split, by_day=False)
        ),
        key=lambda r: (-(r["prompt_tokens"] + r["completion_tokens"]), -r["requests"], r["key"]),
    )
    for row in table:
        row["tokens"] = row["prompt_tokens"] + row["completion_tokens"]
    cost = _costs_add(table, first=first, last=last, split=split)
    top = [row["key"] for row in table[:SERIES_MAX]]
    if len(table) > SERIES_MAX:
        top = top[: SERIES_MAX - 1]
    series = {key: Series(key, [0] * len(days), [0] * len(days)) for key in top}
    for row in _rows(first=first, last=last, split=split, by_day=True):
        key = row["key"] if row["key"] in series else OTHER
        if key not in series:
            series[key] = Series(OTHER, [0] * len(days), [0] * len(days))
        at = index[row["day"]]
        series[key].tokens[at] += (row["prompt_tokens"] or 0) + (row["completion_tokens"] or 0)
        series[key].requests[at] += row["requests"] or 0
    return Report(
        first=first,
        last=last,
        split=split,
        days=days,
        totals=totals,
        ttft=ttft_percentiles(histogram),
        ttft_count=sum(histogram),
        series=list(series.values()),
        table=table,
        failovers=failovers,
        continued=continued,
        rolled_at=aggregate["rolled_at"],
        behind=_behind(first=first, last=last, rolled_at=aggregate["rolled_at"]),
        cost=cost,
    )


def _costs_add(table: list[dict[str, Any]], *, first: date, last: date, split: str) -> Cost | None:
    """Each table row's cost (its tokens per model at the model's price) and the total; None
    and no row cost when no model has a price."""
    prices = prices_by_model()
    if not prices:
        return None
    column = _COLUMNS[split][0]
    per_key: dict[str, list[dict[str, Any]]] = {}
    rows = (
        UsageDay.objects.filter(day__gte=first, day__lte=last)
        .order_by()
        .values(column, "model")
        .annotate(prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"))
    )
    for row in rows:
        per_key.setdefault(_key(split, row[column]), []).append(row)
    for row in table:
        row["cost"] = cost_sum(prices, per_key.get(row["key"], []))
    # The total from the models, not the rows: a user in two groups is in two rows.
    by_model = (
        UsageDay.objects.filter(day__gte=first, day__lte=last)
        .order_by()
        .values("model")
        .annotate(prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"))
    )
    return cost_sum(prices, by_model)


def _behind(*, first: date, last: date, rolled_at: datetime | None) -> bool:
    """One indexed look at the ledger (created_at): anything in the period after the last
    roll-up?"""
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(first, time.min), zone)
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), zone)
    records = UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)
    if rolled_at is not None:
        records = records.filter(created_at__gt=rolled_at)
    return records.exists()


def usage_csv_rows(*, first: date, last: date, split: str) -> Iterator[list[Any]]:
    """One line per day and key, for the page's CSV download (the header first)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    yield ["day", split, *SUMS, *(f"ttft_p{p}_ms_at_most" for p in PERCENTILES)]
    rows = sorted(
        _rows(first=first, last=last, split=split, by_day=True),
        key=lambda r: (r["day"], r["key"]),
    )
    for row in rows:
        ttft = ttft_percentiles([row[name] or 0 for name in TTFT_FIELDS])
        yield [
            row["day"].isoformat(),
            row["key"],
            *(row[name] or 0 for name in SUMS),
            *("" if ttft[p] is None else ttft[p] for p in PERCENTILES),
        ]
