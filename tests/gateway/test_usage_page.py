# ruff: noqa: F811 -- the fixtures imported from data_fixtures are parameters here
"""The admin's usage page: daily roll-ups rebuilt from the ledger (idempotent, late records
counted), totals, percentiles and splits read from the roll-ups only, a CSV, a refresh."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gateway.models import UsageDay, UsageRecord
from gateway.usage_report import ttft_percentiles, usage_report
from gateway.usage_rollup import usage_rollup_range, usage_rollup_recent
from tests.accounts.data_fixtures import staff, staff_client  # noqa: F401

PAGE = "admin:gateway_usagerecord_dashboard"
CSV = "admin:gateway_usagerecord_csv"
REFRESH = "admin:gateway_usagerecord_refresh"


def at(day_offset: int, hour: int = 12) -> datetime:
    day = timezone.localdate() + timedelta(days=day_offset)
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def record(user, *, when: datetime, model="llama", source="chat", tokens=(10, 5), **fields):
    return UsageRecord.objects.create(
        user=user,
        model=model,
        source=source,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        outcome=fields.pop("outcome", "complete"),
        created_at=when,
        **fields,
    )


@pytest.fixture
def ledger(owner, member):
    """Two days of requests by two people, one of them in two groups."""
    research, ops = Group.objects.create(name="research"), Group.objects.create(name="ops")
    owner.groups.add(research, ops)
    member.groups.add(research)
    record(owner, when=at(-1), ttft_ms=80, failovers=1)
    record(owner, when=at(-1), model="qwen", ttft_ms=450, continued=1)
    record(member, when=at(0), ttft_ms=1200, tokens=(100, 50), cached_tokens=40)
    record(member, when=at(0), source="title", tokens=(30, 4), ttft_ms=150)
    record(member, when=at(0), outcome="error", tokens=(0, 0))
    return research, ops


def test_a_day_is_rolled_up_once_however_often_it_runs(ledger, owner):
    usage_rollup_recent()
    usage_rollup_recent()  # a rebuild, not an addition
    yesterday = UsageDay.objects.filter(day=at(-1).date(), user=owner).order_by("model")
    assert [(d.model, d.requests, d.prompt_tokens, d.failovers) for d in yesterday] == [
        ("llama", 1, 10, 1),
        ("qwen", 1, 10, 0),
    ]
    assert (yesterday[0].ttft_le_100, yesterday[1].ttft_le_500) == (1, 1)
    # A record written late (a batch, a stream that ended after midnight) is counted next run.
    record(owner, when=at(-1, hour=23), tokens=(7, 3))
    usage_rollup_recent()
    assert UsageDay.objects.get(day=at(-1).date(), user=owner, model="llama").requests == 2


def test_the_report_sums_totals_percentiles_and_splits(ledger):
    usage_rollup_recent()
    today = timezone.localdate()
    report = usage_report(first=today - timedelta(days=6), last=today, split="group")
    assert report.totals["requests"] == 5
    assert report.totals["prompt_tokens"] == 150 and report.totals["completion_tokens"] == 64
    assert (report.totals["errors"], report.totals["failovers"], report.totals["continued"]) == (
        1, 1, 1,
    )  # fmt: skip
    assert report.totals["cached_tokens"] == 40
    assert report.ttft_count == 4
    assert report.ttft == {50: 200, 90: 1500, 99: 1500}
    rows = {row["key"]: row["requests"] for row in report.table}
    # The owner is in both groups, so counts in both.
    assert rows == {"research": 5, "ops": 2}
    assert len(report.days) == 7 and report.days[-1] == today
    by_source = usage_report(first=today, last=today, split="source")
    assert {row["key"] for row in by_source.table} == {"Chat", "Title generation"}


def test_percentiles_from_a_histogram():
    assert ttft_percentiles([0] * 13) == {50: None, 90: None, 99: None}
    assert ttft_percentiles([50, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0, 10]) == {
        50: 100, 90: 500, 99: None,  # slower than 30 s: no bound to give
    }  # fmt: skip


def test_the_page_reads_the_roll_ups_not_the_ledger(ledger, staff_client):
    usage_rollup_recent()
    record(ledger[0].user_set.first(), when=timezone.now(), tokens=(9999, 1))  # not rolled up
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(reverse(PAGE))
    assert response.status_code == 200
    html = response.content.decode()
    ledger_reads = [q["sql"] for q in queries if '"gateway_usagerecord"' in q["sql"]]
    # One look for newer records (EXISTS, LIMIT 1), never a sum over the ledger.
    assert len(ledger_reads) == 1 and "LIMIT 1" in ledger_reads[0]
    assert 'id="usage-behind"' in html
    assert "9,999" not in html and "150" in html  # the totals are the roll-ups'
    assert html.count('<figure class="usage-chart">') == 3 and "<rect" in html
    assert "Title generation" in html or "llama" in html


def test_the_page_splits_by_user_and_shows_percentiles(ledger, staff_client, member):
    usage_rollup_recent()
    html = staff_client.get(reverse(PAGE), {"split": "user"}).content.decode()
    assert "Tokens per day by user" in html
    assert member.email in html
    assert "≤ 200 ms" in html  # the p50 tile


def test_the_csv_has_a_line_per_day_and_key(ledger, staff_client):
    usage_rollup_recent()
    today = timezone.localdate()
    query = {"first": str(today - timedelta(days=1)), "last": str(today), "split": "model"}
    response = staff_client.get(reverse(CSV), query)
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["day", "model", "requests", "errors"]
    assert [row[:3] for row in rows[1:]] == [
        [str(today - timedelta(days=1)), "llama", "1"],
        [str(today - timedelta(days=1)), "qwen", "1"],
        [str(today), "llama", "3"],
    ]


def test_a_model_name_cannot_become_a_spreadsheet_formula(owner, staff_client):
    record(owner, when=timezone.now(), model="=HYPERLINK(1)")
    usage_rollup_recent()
    body = b"".join(staff_client.get(reverse(CSV)).streaming_content).decode()
    assert "'=HYPERLINK(1)" in body


def test_a_bad_period_is_explained(staff_client):
    response = staff_client.get(reverse(PAGE), {"first": "2026-02-10", "last": "2026-02-01"})
    assert "“From” is after “To”." in response.content.decode()
    assert staff_client.get(reverse(CSV), {"first": "nonsense"}).status_code == 400


def test_refresh_rolls_up_now_and_only_on_post(ledger, staff_client):
    assert staff_client.get(reverse(REFRESH)).status_code == 405
    assert not UsageDay.objects.exists()
    response = staff_client.post(reverse(REFRESH), {"split": "user", "evil": "x"})
    assert response.status_code == 302 and response["Location"].endswith("?split=user")
    assert UsageDay.objects.exists()


def test_the_page_is_for_staff_with_the_usage_permission(make_user):
    member = make_user("someone@example.com")
    client = Client()
    client.force_login(member)
    assert client.get(reverse(PAGE)).status_code == 302  # to the admin's sign-in
    member.is_staff = True
    member.save()
    assert client.get(reverse(PAGE)).status_code == 403
    assert client.get(reverse(CSV)).status_code == 403
    assert client.post(reverse(REFRESH)).status_code == 403


def test_the_ledger_list_fits_and_links_the_page(ledger, staff_client):
    response = staff_client.get(reverse("admin:gateway_usagerecord_changelist"))
    html = response.content.decode()
    assert f'href="{reverse(PAGE)}"' in html
    columns = set(re.findall(r'<th scope="col"\s+class="[^"]*column-(\w+)', html))
    assert columns == {
        "created_at", "user", "source", "model", "outcome", "total_tokens", "ttft_ms", "worker",
    }  # fmt: skip
    assert "Title generation" in html


def test_the_beat_keeps_the_recent_days_rolled_up(settings, ledger):
    from gateway.tasks import usage_rollup_recent_run

    schedule = settings.CELERY_BEAT_SCHEDULE["gateway-usage-rollup"]
    assert schedule["task"] == "gateway.tasks.usage_rollup_recent_run"
    assert usage_rollup_recent_run.apply().get() > 0
    assert UsageDay.objects.filter(day=timezone.localdate()).exists()


def test_the_command_rebuilds_a_range(ledger):
    from django.core.management import call_command

    out = io.StringIO()
    yesterday = at(-1).date()
    call_command("usage_rollup", "--first", str(yesterday), "--last", str(yesterday), stdout=out)
    assert "2 roll-up row(s) written." in out.getvalue()
    assert set(UsageDay.objects.values_list("day", flat=True)) == {yesterday}
    assert usage_rollup_range(first=yesterday, last=yesterday) == 2


def test_a_chart_stacks_each_day_inside_its_box():
    from datetime import date

    from gateway.admin.charts import HEIGHT, WIDTH, stacked_bars

    days = [date(2026, 3, d) for d in range(1, 11)]
    chart = stacked_bars(
        title="t", days=days, series=[("a", [3] * 10), ("b", [0, 7] + [1] * 8)], unit="tokens"
    )
    assert not chart.empty and len(chart.bars) == 19  # no bar for a zero
    second_day = [bar for bar in chart.bars if bar.title.startswith("2026-03-02")]
    lower, upper = sorted(second_day, key=lambda bar: -bar.y)
    assert (lower.series, upper.series) == (0, 1)
    assert abs(upper.y + upper.height - lower.y) < 0.01  # b sits on a
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"]
    assert all(b.x >= 0 and b.x + b.width <= WIDTH and 0 <= b.y <= HEIGHT for b in chart.bars)
    first, middle, last = chart.x_ticks
    assert (first.anchor, middle.anchor, last.anchor) == ("start", "middle", "end")
    assert last.at <= WIDTH and last.label == "10 Mar"
    assert stacked_bars(title="t", days=days, series=[("a", [0] * 10)], unit="").empty
