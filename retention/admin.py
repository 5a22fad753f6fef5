"""Retention in Django's admin: the default periods (one row), the groups' periods, the
purge's runs (read-only), and legal holds (placed and released here, both audited; a hold's
row is never edited or deleted: it is the hold's history)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.audit import request_ip
from accounts.legal_hold import legal_hold_place, legal_hold_release
from accounts.models import LegalHold
from retention.models import GroupRetention, RetentionDefaults, RetentionRun

COUNTS_ORDER = {
    name: index
    for index, name in enumerate(
        ["conversations", "messages", "attachments", "usage_records", "usage_days", "audit_events"]
    )
}


@admin.register(RetentionDefaults)
class RetentionDefaultsAdmin(admin.ModelAdmin):
    fields = ("conversations_days", "usage_days", "audit_days", "updated_at")
    readonly_fields = ("updated_at",)
    list_display = ("__str__", "conversations_days", "usage_days", "audit_days", "updated_at")

    def has_add_permission(self, request) -> bool:
        # One row: admins add it once, then edit it.
        return not RetentionDefaults.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GroupRetention)
class GroupRetentionAdmin(admin.ModelAdmin):
    list_display = ("group", "kind", "days")
    list_filter = ("kind",)
    list_select_related = ("group",)
    search_fields = ("group__name",)


@admin.register(RetentionRun)
class RetentionRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "finished_at", "complete", "deleted")
    readonly_fields = ("started_at", "finished_at", "complete", "deleted")
    fields = readonly_fields

    @admin.display(description=_("deleted"))
    def deleted(self, run: RetentionRun) -> str:
        # In a fixed order: PostgreSQL's jsonb keeps its keys in an order of its own.
        names = sorted(run.counts, key=lambda name: (COUNTS_ORDER.get(name, 99), name))
        return ", ".join(f"{name}: {run.counts[name]}" for name in names) or "-"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ("user", "placed_at", "placed_by", "released_at", "released_by")
    list_filter = (("released_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user", "placed_by", "released_by")
    search_fields = ("user__email",)
    autocomplete_fields = ("user",)
    actions = ["release"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("user", "reason")
        return ("user", "reason", "placed_at", "placed_by", "released_at", "released_by")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A released hold only, one at a time: so that its person's account may be deleted
        # (the hold's placing and release stay in the audit log).
        return (
            obj is not None
            and obj.released_at is not None
            and super().has_delete_permission(request, obj)
        )

    def save_model(self, request, obj: LegalHold, form, change: bool) -> None:
        if change:
            return  # every field is read-only once placed
        placed = legal_hold_place(
            user=obj.user, reason=obj.reason, by=request.user, ip=request_ip(request)
        )
        obj.pk = placed.pk
        obj.placed_by, obj.placed_at = placed.placed_by, placed.placed_at

    @admin.action(description=_("Release the selected holds"), permissions=["change"])
    def release(self, request, queryset) -> None:
        released = sum(
            legal_hold_release(hold=hold, by=request.user, ip=request_ip(request))
            for hold in queryset.filter(released_at__isnull=True)
        )
        self.message_user(
            request,
            ngettext("%(count)s hold released.", "%(count)s holds released.", released)
            % {"count": released},
            messages.SUCCESS,
        )
