"""The audit log in Django's admin: read-only, filterable (action, target type, actor, a date
range), and downloadable as CSV with the same filters (``.../auditevent/csv/``).

Imported from ``AccountsConfig.ready``, which registers it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from accounts.models import AuditEvent

CSV_COLUMNS = ["at", "actor", "action", "target_type", "target_id", "ip", "detail"]
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """The value as text, quoted with a leading apostrophe when a spreadsheet would take it
    for a formula: an email or an object's name is chosen by whoever created it."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


class _Echo:
    """A file-like object whose ``write`` returns what it was given: csv.writer then yields
    each row as a string, ready to stream."""

    def write(self, value: str) -> str:
        return value


def audit_csv_rows(queryset) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in queryset.select_related("actor").iterator(chunk_size=500):
        yield writer.writerow(
            [
                csv_cell(value)
                for value in (
                    event.at.isoformat(),
                    event.actor.email if event.actor else "",
                    event.action,
                    event.target_type,
                    event.target_id,
                    event.ip or "",
                    json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
                )
            ]
        )


class DateRangeFilter(admin.FieldListFilter):
    """From and to dates (both included), as two date inputs above the other filters."""

    template = "admin/accounts/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.from_param = f"{field_path}_from"
        self.to_param = f"{field_path}_to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "date range"

    def expected_parameters(self) -> list[str]:
        return [self.from_param, self.to_param]

    def _value(self, name: str) -> str:
        value = self.used_parameters.get(name, "")
        return value[-1] if isinstance(value, list) else value

    def _date(self, name: str) -> date | None:
        text = self._value(name)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def queryset(self, request, queryset):
        start, end = self._date(self.from_param), self._date(self.to_param)
        zone = timezone.get_current_timezone()
        if start:
            queryset = queryset.filter(
                **{f"{self.field_path}__gte": datetime.combine(start, time.min, zone)}
            )
        if end:
            queryset = queryset.filter(
                **{
                    f"{self.field_path}__lt": datetime.combine(
                        end + timedelta(days=1), time.min, zone
                    )
                }
            )
        return queryset

    def choices(self, changelist):
        # One "choice": what the template needs to draw its form and keep the other filters.
        yield {
            "from_param": self.from_param,
            "to_param": self.to_param,
            "from_value": self._value(self.from_param),
            "to_value": self._value(self.to_param),
            "other_params": [
                (key, value)
                for key, value in changelist.get_filters_params().items()
                if key not in self.expected_parameters()
                for value in (value if isinstance(value, list) else [value])
            ],
        }


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the log is evidence, nobody edits or deletes it here."""

    change_list_template = "admin/accounts/auditevent/change_list.html"
    list_display = ["at", "actor", "action", "target_type", "target_id", "ip"]
    list_filter = [
        ("at", DateRangeFilter),
        "action",
        "target_type",
        ("actor", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["actor"]
    search_fields = ["action", "target_id", "actor__email"]
    date_hierarchy = "at"
    show_full_result_count = False  # the log grows without bound: no COUNT(*) per page

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        csv_view = self.admin_site.admin_view(self.csv_download)
        return [path("csv/", csv_view, name="accounts_auditevent_csv"), *super().get_urls()]

    def csv_download(self, request: HttpRequest) -> HttpResponse:
        """The list as CSV, with the filters and search of the page it was linked from."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            queryset = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters are not valid: change them on the list.")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(audit_csv_rows(queryset), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response
