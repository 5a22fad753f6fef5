"""Admin for the worker pool (``Worker``, with live columns and a live pool page) and model
access rules."""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from gateway.models import ModelAccess, ModelCapability, Worker
from gateway.telemetry import NO_LOAD_METRICS
from gateway.worker_urls import worker_url_check

logger = logging.getLogger(__name__)


class WorkerForm(forms.ModelForm):
    # The key is write-only: the field never shows the saved value (render_value=False),
    # and leaving it blank keeps it. Clearing is an explicit choice.
    api_key = forms.CharField(
        label=_("API key"),
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_api_key = forms.BooleanField(label=_("Clear the API key"), required=False)

    class Meta:
        model = Worker
        fields = (
            "base_url", "region", "weight", "enabled", "draining", "max_concurrency", "api_key",
        )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        has_key = bool(self.instance.pk and self.instance.api_key)
        self.fields["api_key"].help_text = (
            _("A key is set. Leave blank to keep it, type a new one to replace it.")
            if has_key
            else _("Bearer token the worker expects (vLLM --api-key). Never displayed again.")
        )
        if not has_key:
            del self.fields["clear_api_key"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("clear_api_key"):
            if data.get("api_key"):
                self.add_error("api_key", _("Type a new key or clear it, not both."))
            data["api_key"] = ""
        elif not data.get("api_key"):
            # What the database holds: the instance is not yet updated from the form.
            data["api_key"] = self.instance.api_key if self.instance.pk else ""
        return data


# The pool's live state, read once per changelist page, not once per row and column.
_live: contextvars.ContextVar[dict[str, list[dict]] | None] = contextvars.ContextVar(
    "gateway_pool_live", default=None
)


def _url_key(url: str) -> str:
    try:
        return worker_url_check(url)
    except ValueError:  # a row written around the form's validation: shown, never matched
        return url


def _admin_ids() -> dict[str, int]:
    return {_url_key(url): pk for pk, url in Worker.objects.values_list("pk", "base_url")}


def _live_rows(worker: Worker) -> list[dict]:
    live = _live.get() or {}
    return live.get(_url_key(worker.base_url), [])


def _fmt(rows: list[dict], key: str, fmt: str = "{:g}") -> str:
    values = [fmt.format(row[key]) for row in rows if row.get(key) is not None]
    return ", ".join(values) or "—"


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    form = WorkerForm
    change_list_template = "admin/gateway/worker/change_list.html"
    list_display = (
        "base_url", "region", "enabled", "draining", "weight",
        "live_health", "live_queue", "live_kv", "live_inflight", "live_circuit",
    )  # fmt: skip
    list_filter = ("region", "enabled", "draining")
    search_fields = ("base_url", "region")
    readonly_fields = ("created_at", "updated_at")
    actions = ("drain_selected", "enable_selected", "disable_selected")

    def get_fields(self, request: HttpRequest, obj: Worker | None = None) -> list[str]:
        fields = list(self.form.Meta.fields)
        if obj is not None and obj.api_key:
            fields.append("clear_api_key")
        return [*fields, "created_at", "updated_at"] if obj else fields

    # -- live columns
    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        from gateway.telemetry.status import pool_status_sync

        live: dict[str, list[dict]] = {}
        others: list[dict] = []
        try:
            for row in pool_status_sync(admin_ids={})["workers"]:
                live.setdefault(row["origin"], []).append(row)
                if row["source"] != "admin":
                    others.append(row)
        except Exception as exc:  # the list must open even when Redis does not answer
            logger.warning("reading the pool for the worker list failed: %r", exc)
            live, others = {}, []
        # The rows below are only the admin's: the workers AIPORTAL_WORKERS and DNS bring
        # serve as well, and a list saying "0 workers" beside a working chat misleads.
        extra_context = {**(extra_context or {}), "pool_others": others}
        token = _live.set(live)
        try:
            response = super().changelist_view(request, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()  # the columns read _live while rendering
            return response
        finally:
            _live.reset(token)

    @admin.display(description=_("health"))
    def live_health(self, obj: Worker) -> str:
        rows = _live_rows(obj)
        if not rows:
            return "—"
        healthy = sum(1 for row in rows if row["healthy"])
        quiet = sum(1 for row in rows if row["healthy"] and row.get("no_load_metrics"))
        if len(rows) == 1:
            return (NO_LOAD_METRICS if quiet else "healthy") if healthy else "down"
        word = f"{healthy}/{len(rows)} healthy"
        return f"{word}, {quiet} with {NO_LOAD_METRICS}" if quiet else word

    @admin.display(description=_("queue"))
    def live_queue(self, obj: Worker) -> str:
        rows = [row for row in _live_rows(obj) if not row.get("no_load_metrics")]
        return _fmt(rows, "waiting")

    @admin.display(description=_("KV use"))
    def live_kv(self, obj: Worker) -> str:
        rows = [
            {**row, "kv_pct": row["kv_usage"] * 100}
            for row in _live_rows(obj)
            if row["metrics_age"] is not None and not row.get("no_load_metrics")
        ]
        return _fmt(rows, "kv_pct", "{:.0f} %")

    @admin.display(description=_("in flight"))
    def live_inflight(self, obj: Worker) -> str:
        return _fmt(_live_rows(obj), "inflight", "{}")

    @admin.display(description=_("circuit"))
    def live_circuit(self, obj: Worker) -> str:
        rows = _live_rows(obj)
        return ", ".join(row["circuit"] for row in rows) or "—"

    # -- actions
    # Each worker goes through worker_state_set and gets an admin log entry, which the audit
    # log records (accounts/audit/receivers.py): a bulk UPDATE would leave no trace of who did it.
    def _state_set(self, request: HttpRequest, queryset: QuerySet[Worker], action: str) -> None:
        workers = list(queryset)
        for worker in workers:
            worker_state_set(worker=worker, action=action)
            self.log_change(request, worker, f"{action} from the worker list")
        self.message_user(
            request, f"{len(workers)} worker(s) {_POOL_ACTIONS[action]}.", messages.SUCCESS
        )

    @admin.action(description=_("Drain: finish running streams, send nothing new"))
    def drain_selected(self, request: HttpRequest, queryset: QuerySet[Worker]) -> None:
        self._state_set(request, queryset, "drain")

    @admin.action(description=_("Enable (and stop draining)"))
    def enable_selected(self, request: HttpRequest, queryset: QuerySet[Worker]) -> None:
        self._state_set(request, queryset, "enable")

    @admin.action(description=_("Disable: no requests at all"))
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[Worker]) -> None:
        self._state_set(request, queryset, "disable")

    # -- the live pool page
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("pool/", wrap(self.pool_view), name="gateway_worker_pool"),
            path("pool.json", self.pool_json_view, name="gateway_worker_pool_json"),
            path(
                "pool/<int:pk>/<str:action>/",
                wrap(self.pool_action_view),
                name="gateway_worker_pool_action",
            ),
            *super().get_urls(),
        ]

    def pool_view(self, request: HttpRequest) -> HttpResponse:
        from gateway.telemetry.status import pool_status_sync

        if not self.has_view_permission(request):
            raise PermissionDenied
        status = pool_status_sync(admin_ids=_admin_ids())
        context = {
            **self.admin_site.each_context(request),
            "title": "Worker pool",
            "opts": self.model._meta,
            "status": status,
            "can_change": self.has_change_permission(request),
            "json_url": reverse("admin:gateway_worker_pool_json"),
        }
        return TemplateResponse(request, "admin/gateway/pool.html", context)

    @staticmethod
    @never_cache
    async def pool_json_view(request: HttpRequest) -> HttpResponse:
        """The pool page's data, polled every 2 s. Async, so it runs on the server's loop and
        starts this process's prober if no request has yet."""
        from asgiref.sync import sync_to_async

        from gateway.telemetry.status import pool_status

        user = await request.auser()
        if not (user.is_active and user.is_staff):
            return JsonResponse({"error": "staff only"}, status=403)
        if not await sync_to_async(user.has_perm)("gateway.view_worker"):
            return JsonResponse({"error": "no permission to view workers"}, status=403)
        admin_ids = await sync_to_async(_admin_ids)()
        status = await pool_status(admin_ids=admin_ids)
        return JsonResponse(status)

    def pool_action_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in _POOL_ACTIONS:
            raise PermissionDenied
        worker = get_object_or_404(Worker, pk=pk)
        if not self.has_change_permission(request, worker):
            raise PermissionDenied
        worker_state_set(worker=worker, action=action)
        self.log_change(request, worker, f"{action} from the pool page")
        messages.success(
            request,
            _("%(worker)s: %(state)s. The pool sees it within a second.")
            % {"worker": worker.base_url, "state": _POOL_ACTIONS[action]},
        )
        return HttpResponseRedirect(reverse("admin:gateway_worker_pool"))


_POOL_ACTIONS = {"drain": _("draining"), "enable": _("enabled"), "disable": _("disabled")}


def worker_state_set(*, worker: Worker, action: str) -> None:
    """drain: finish what runs, take nothing new; enable: back in service (not draining);
    disable: no requests at all."""
    if action == "drain":
        worker.draining = True
    elif action == "enable":
        worker.enabled, worker.draining = True, False
    elif action == "disable":
        worker.enabled = False
    else:
        raise ValueError(action)
    worker.save(update_fields=["enabled", "draining", "updated_at"])


@admin.register(ModelAccess)
class ModelAccessAdmin(admin.ModelAdmin):
    list_display = ("model", "group_names", "note", "updated_at")
    search_fields = ("model", "note", "groups__name")
    list_filter = ("groups",)
    filter_horizontal = ("groups",)
    fields = ("model", "groups", "note")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelAccess]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("groups"))
    def group_names(self, obj: ModelAccess) -> str:
        names = [group.name for group in obj.groups.all()]
        return ", ".join(names) or "nobody (closed)"


@admin.register(ModelCapability)
class ModelCapabilityAdmin(admin.ModelAdmin):
    # Whether a model reads images: the chat and /v1 refuse images for a model without
    # ``vision`` (gateway/capabilities.py).
    list_display = ("model", "vision", "note", "updated_at")
    list_filter = ("vision",)
    search_fields = ("model", "note")
    fields = ("model", "vision", "note")
