"""Admin for SCIM tokens: an admin adds one (a name), sees the token once on the page that
follows, and revokes tokens from the list. The digest is never shown; a token is never
edited or deleted (the row, revoked, is the record)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy, ngettext

from accounts.audit import request_ip
from scim.models import ScimToken
from scim.tokens import scim_token_create, scim_token_revoke


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "display", "created_by", "created_at", "last_used_at", "status")
    list_select_related = ("created_by",)
    search_fields = ("name", "prefix")
    actions = ("revoke_selected",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name",)
        return ("name", "display", "created_by", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("Token"))
    def display(self, token: ScimToken) -> str:
        return token.display

    @admin.display(description=gettext_lazy("Status"))
    def status(self, token: ScimToken) -> str:
        return str(gettext_lazy("revoked") if token.revoked_at else gettext_lazy("active"))

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # nothing of a token is edited after it is made
        row, plaintext = scim_token_create(
            name=form.cleaned_data["name"], by=request.user, ip=request_ip(request)
        )
        # The admin goes on with ``obj`` (the change log, the next page): make it the row.
        obj.pk, obj.prefix, obj.digest, obj.created_at = (
            row.pk,
            row.prefix,
            row.digest,
            row.created_at,
        )
        obj._state.adding = False
        request._scim_plaintext = plaintext

    def response_add(self, request, obj, post_url_continue=None):
        # Rendered, not redirected: the token is never put in a message or a session.
        return TemplateResponse(
            request,
            "admin/scim/scimtoken/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "token": obj,
                "plaintext": request._scim_plaintext,
                "scim_url": request.build_absolute_uri("/scim/v2"),
                "title": gettext_lazy("SCIM token created"),
            },
        )

    @admin.action(description=gettext_lazy("Revoke the selected tokens"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ScimToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            scim_token_revoke(token=token, by=request.user, ip=request_ip(request))
            count += 1
        self.message_user(
            request,
            ngettext("Revoked %(count)s token.", "Revoked %(count)s tokens.", count)
            % {"count": count},
            messages.SUCCESS,
        )
