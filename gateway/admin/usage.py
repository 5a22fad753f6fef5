"""Admin for usage: the ledger's list (read-only) and the usage page, with totals, daily
charts, TTFT percentiles and a CSV, read from the daily roll-ups (gateway/usage_report.py)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit.admin import csv_cell
from gateway.admin.charts import stacked_bars
from gateway.models import UsageRecord
from gateway.usage_report import PERCENTILES, SPLITS, usage_csv_rows, usage_report
from gateway.usage_rollup import usage_rollup_recent

DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years of daily bars is already thinner than a pixel each
QUICK_DAYS = (7, 30, 90, 365)


_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PeriodForm(forms.Form):
    """The page's filters, from the query string: a period (both days included) and what
    the charts and the table are split by."""

    first = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    last = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    split = forms.ChoiceField(label=_("Split by"), choices=list(SPLITS.items()), required=False)

    def clean(self) -> dict:
        data = super().clean()
        today = timezone.localdate()
        last = data.get("last") or today
        first = data.get("first") or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise forms.ValidationError(_("“From” is after “To”."))
        if (last - first).days + 1 > MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        data.update(first=first, last=last, split=data.get("split") or "model")
        return data


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def _ms(value: int | None) -> str:
    return "—" if value is None else f"≤ {value:,} ms"


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """The raw ledger, one row per request. Its list keeps the columns that fit a screen;
    the rest are on each record's page. Totals and trends are on the usage page."""

    change_list_template = "admin/gateway/usagerecord/change_list.html"
    list_display = (
        "created_at", "user", "source", "model", "outcome", "total_tokens", "ttft_ms", "worker",
    )  # fmt: skip
    list_select_related = ("user",)
    list_filter = (
        "source", "outcome", "model", ("user", admin.RelatedOnlyFieldListFilter), "region",
    )  # fmt: skip
    search_fields = ("user__email", "model", "worker", "api_key__prefix", "request_id")
    date_hierarchy = "created_at"
    show_full_result_count = False  # COUNT(*) over a large ledger on every page is slow

    @admin.display(description=_("tokens"))
    def total_tokens(self, record: UsageRecord) -> int:
        return record.total_tokens

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # -- the usage page
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("dashboard/", wrap(self.dashboard_view), name="gateway_usagerecord_dashboard"),
            path("dashboard.csv", wrap(self.dashboard_csv), name="gateway_usagerecord_csv"),
            path(
                "dashboard/refresh/",
                wrap(self.dashboard_refresh),
                name="gateway_usagerecord_refresh",
            ),
            *super().get_urls(),
        ]

    def _period(self, request: HttpRequest) -> tuple[PeriodForm, dict | None]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = PeriodForm(request.GET)
        return form, (form.cleaned_data if form.is_valid() else None)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        form, period = self._period(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage",
            "opts": self.model._meta,
            "form": form,
            "splits": SPLITS,
            "percentiles": PERCENTILES,
        }
        if period is not None:
            # The inputs show the period shown, defaults included.
            context["form"] = PeriodForm(initial=period)
            report = usage_report(first=period["first"], last=period["last"], split=period["split"])
            context.update(self._dashboard_context(request, report, period))
        return TemplateResponse(request, "admin/gateway/usagerecord/dashboard.html", context)

    def _dashboard_context(self, request: HttpRequest, report, period: dict) -> dict:
        split_name = SPLITS[report.split].lower()
        series = report.series
        today = timezone.localdate()
        query = {"first": report.first, "last": report.last, "split": report.split}
        return {
            "report": report,
            "split_name": split_name,
            "ttft": [(p, _ms(report.ttft[p])) for p in PERCENTILES],
            "charts": [
                stacked_bars(
                    title=_("Tokens per day by %(split)s") % {"split": split_name},
                    days=report.days,
                    series=[(s.key, s.tokens) for s in series],
                    unit="tokens",
                ),
                stacked_bars(
                    title=_("Requests per day by %(split)s") % {"split": split_name},
                    days=report.days,
                    series=[(s.key, s.requests) for s in series],
                    unit="requests",
                ),
                stacked_bars(
                    title=_("Failovers and continuations per day"),
                    days=report.days,
                    series=[("failovers", report.failovers), ("continuations", report.continued)],
                    unit="",
                ),
            ],
            "table": [
                {**row, "ttft_cells": [_ms(row["ttft"][p]) for p in PERCENTILES]}
                for row in report.table
            ],
            "quick": [(days, today - timedelta(days=days - 1), today) for days in QUICK_DAYS],
            "query": urlencode(query),
            "can_refresh": self.has_view_permission(request),
        }

    def dashboard_csv(self, request: HttpRequest) -> HttpResponse:
        _form, period = self._period(request)
        if period is None:
            return HttpResponse(
                _("These filters are not valid: change them on the page."), status=400
            )
        rows = usage_csv_rows(first=period["first"], last=period["last"], split=period["split"])
        response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv")
        name = f"usage-{period['split']}-{period['first']}-{period['last']}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def dashboard_refresh(self, request: HttpRequest) -> HttpResponse:
        """Roll up today and yesterday now: where no beat runs (the embedded default) and for
        an admin who will not wait for the next run. A POST: it writes the roll-ups."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = usage_rollup_recent()
        messages.success(
            request, _("Today and yesterday rolled up (%(rows)s rows).") % {"rows": rows}
        )
        # Back to the same period: only the filters' own fields, re-encoded.
        query = urlencode({k: v for k, v in request.POST.items() if k in PeriodForm.base_fields})
        return HttpResponseRedirect(f"{reverse('admin:gateway_usagerecord_dashboard')}?{query}")
