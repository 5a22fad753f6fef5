"""Admin for API keys (imported by gateway/admin/__init__.py; usage is in ``usage``).

Keys: list, search, revoke, set a key's own per-minute limits (saved, they apply to its next
request: saving a key bumps the access version its cached row is read under,
gateway/signals.py); never the digest (it is not secret in the way a key is, but it
has no use on screen and an offline guess starts from it). No "add": a key is created by its
owner (Settings → API keys) or with ``manage.py apikey create``, where it can be shown once.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from accounts.audit import request_ip
from gateway.keys import apikey_revoke
from gateway.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name", "user", "display", "created_at", "last_used_at", "expires_at", "status",
    )  # fmt: skip
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__email")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    fields = (
        "user", "name", "display", "created_at", "last_used_at", "expires_at", "revoked_at",
        "requests_per_minute", "tokens_per_minute",
    )  # fmt: skip
    readonly_fields = ("user", "display", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke_selected",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=gettext_lazy("Key"))
    def display(self, key: ApiKey) -> str:
        return key.display

    @admin.display(description=gettext_lazy("Status"))
    def status(self, key: ApiKey) -> str:
        if key.revoked_at:
            return "revoked"
        return "active" if key.is_usable() else "expired"

    @admin.action(description=gettext_lazy("Revoke the selected keys"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            apikey_revoke(key=key, by=request.user, ip=request_ip(request))
            count += 1
        self.message_user(
            request,
            ngettext("Revoked %(count)s key.", "Revoked %(count)s keys.", count) % {"count": count},
            messages.SUCCESS,
        )
