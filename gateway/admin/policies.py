"""Admin for admission policies (gateway/models/policies.py). Registered when gateway/admin/
imports this module; a change applies to the next request (see gateway/callers.py)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from gateway.models import Policy


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "allowed_regions",
        "home_region",
        "max_concurrent_streams",
        "daily_token_budget",
        "group_daily_token_budget",
        "requests_per_minute",
        "tokens_per_minute",
        "updated_at",
    )
    list_select_related = ("user", "group")
    search_fields = ("user__email", "group__name", "allowed_regions", "note")
    raw_id_fields = ("user",)
    fieldsets = (
        (_("Who"), {"fields": ("user", "group"), "description": _("Exactly one of the two.")}),
        (_("Residency"), {"fields": ("allowed_regions", "home_region")}),
        (
            _("Limits"),
            {
                "fields": (
                    "max_concurrent_streams",
                    "daily_token_budget",
                    "group_daily_token_budget",
                    "requests_per_minute",
                    "tokens_per_minute",
                ),
                "description": _("Empty inherits; 0 means unlimited."),
            },
        ),
        (None, {"fields": ("note",)}),
    )
