"""MCP servers in Django admin: register a server, set its secrets (write-only), refresh its
tools from the server's ``tools/list`` and enable them one by one, test the connection."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from tools.client import ToolServerError, server_tools_list
from tools.models import McpServer, McpTool
from tools.secrets import SecretUnreadable
from tools.selectors import server_config
from tools.services import mcp_server_secrets_set, mcp_server_tools_refresh
from tools.transport import url_refusal


class McpServerForm(forms.ModelForm):
    # "https://" is what a bare host name means here (Django 6's default, said now).
    url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        label=_("URL"),
        help_text=McpServer._meta.get_field("url").help_text,
    )
    token_url = forms.URLField(
        max_length=2000,
        required=False,
        assume_scheme="https",
        label=_("Token URL"),
        help_text=McpServer._meta.get_field("token_url").help_text,
    )
    # Write-only: a stored secret is never shown again; empty keeps it.
    header_value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        label=_("Header value"),
        help_text=_("Static header: its value (a token). Empty keeps the stored one."),
    )
    client_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        label=_("Client secret"),
        help_text=_("OAuth: the client secret. Empty keeps the stored one."),
    )

    class Meta:
        model = McpServer
        fields = [
            "name", "url", "enabled", "allow_private", "groups", "auth", "header_name",
            "token_url", "client_id", "scope", "approval", "timeout_seconds", "max_steps",
            "max_result_chars",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        url = data.get("url")
        allow_private = bool(data.get("allow_private"))
        if url:
            refusal = url_refusal(url, allow_private=allow_private)
            if refusal:
                self.add_error("url", refusal)
        auth = data.get("auth")
        if auth == McpServer.Auth.HEADER and not data.get("header_name"):
            self.add_error("header_name", _("A static header needs a name."))
        if auth == McpServer.Auth.OAUTH:
            for field in ("token_url", "client_id"):
                if not data.get(field):
                    self.add_error(field, _("OAuth client credentials need this."))
            token_url = data.get("token_url")
            if token_url and (refusal := url_refusal(token_url, allow_private=allow_private)):
                self.add_error("token_url", refusal)
        return data


class McpToolInline(admin.TabularInline):
    model = McpTool
    extra = 0
    can_delete = False
    fields = ("name", "enabled", "missing", "description")
    readonly_fields = ("name", "missing", "description")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # tools come from the server's own list ("Refresh tools")


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = ("name", "url", "enabled", "approval", "auth", "tools_refreshed_at")
    list_filter = ("enabled", "approval", "auth")
    search_fields = ("name", "url")
    filter_horizontal = ("groups",)
    inlines = [McpToolInline]
    actions = ["refresh_tools", "test_connection"]
    readonly_fields = ("tools_refreshed_at",)
    fieldsets = (
        (None, {"fields": ("name", "url", "enabled", "allow_private", "groups")}),
        (
            _("Authentication"),
            {
                "fields": (
                    "auth",
                    "header_name",
                    "header_value",
                    "token_url",
                    "client_id",
                    "client_secret",
                    "scope",
                )
            },
        ),
        (
            _("Limits and approval"),
            {"fields": ("approval", "timeout_seconds", "max_steps", "max_result_chars")},
        ),
        (None, {"fields": ("tools_refreshed_at",)}),
    )

    def save_model(self, request: HttpRequest, obj: McpServer, form: Any, change: bool) -> None:
        mcp_server_secrets_set(
            server=obj,
            header_value=form.cleaned_data.get("header_value") or None,
            client_secret=form.cleaned_data.get("client_secret") or None,
        )
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Refresh tools from the server"))
    def refresh_tools(self, request: HttpRequest, queryset: QuerySet[McpServer]) -> None:
        for server in queryset:
            try:
                listed, new = mcp_server_tools_refresh(server=server, actor=request.user)
            except (ToolServerError, SecretUnreadable) as exc:
                self.message_user(
                    request,
                    _("%(server)s: %(error)s") % {"server": server.name, "error": exc},
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                _("%(server)s lists %(listed)d tools, %(new)d new (new tools start disabled).")
                % {"server": server.name, "listed": listed, "new": new},
                messages.SUCCESS,
            )

    @admin.action(description=_("Test the connection"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet[McpServer]) -> None:
        for server in queryset:
            try:
                listed = async_to_sync(server_tools_list)(server_config(server))
            except (ToolServerError, SecretUnreadable) as exc:
                self.message_user(
                    request,
                    _("%(server)s: %(error)s") % {"server": server.name, "error": exc},
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                _("%(server)s answered: %(listed)d tools.")
                % {"server": server.name, "listed": len(listed)},
                messages.SUCCESS,
            )
