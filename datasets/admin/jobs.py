"""Refill jobs in the admin: the history with its errors, live progress, and "Cancel".

Progress is pushed through ``ws/admin/jobs/<id>/`` (datasets/consumers.py); the JSON view
here is what the page polls when no socket can be had."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from datasets.models import RefillJob
from datasets.protocol import job_frame
from datasets.services.refill import dataset_refill_cancel


@admin.register(RefillJob)
class RefillJobAdmin(admin.ModelAdmin):
    change_form_template = "admin/datasets/refilljob/change_form.html"
    list_display = [
        "id",
        "dataset",
        "status",
        "progress_percent",
        "seen",
        "added",
        "reused",
        "removed",
        "failed",
        "triggered_by",
        "created",
        "finished",
    ]
    list_filter = ["status", "dataset", "created"]
    list_select_related = ["dataset", "triggered_by"]
    search_fields = ["dataset__name", "message"]
    fields = [
        "dataset",
        "status",
        "progress",
        "seen",
        "added",
        "reused",
        "removed",
        "failed",
        "embedded",
        "to_embed",
        "message",
        "error_list",
        "triggered_by",
        "attempts",
        "version",
        "created",
        "started",
        "finished",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a job is history; it is started and cancelled, never edited

    @admin.display(description=gettext_lazy("progress"))
    def progress_percent(self, obj: RefillJob) -> str:
        return f"{obj.progress * 100:.0f} %"

    @admin.display(description=gettext_lazy("document errors"))
    def error_list(self, obj: RefillJob) -> str:
        if not obj.errors:
            return "none"
        # Keys and messages come from documents and servers: escaped by format_html_join.
        items = format_html_join(
            "",
            "<li><code>{}</code>: {}</li>",
            ((e.get("key", ""), e.get("message", "")) for e in obj.errors),
        )
        return format_html('<ul class="dataset-job-errors">{}</ul>', items)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/cancel/",
                wrap(require_POST(self.cancel_view)),
                name="datasets_refilljob_cancel",
            ),
            path(
                "<int:pk>/progress.json",
                wrap(self.progress_view),
                name="datasets_refilljob_progress",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = RefillJob.objects.filter(pk=object_id).first()
        return super().change_view(
            request, object_id, form_url, extra_context={**(extra_context or {}), "job": job}
        )

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(RefillJob.objects.select_related("dataset"), pk=pk)
        if not request.user.has_perm("datasets.change_dataset"):
            raise PermissionDenied
        if job.status not in RefillJob.ACTIVE:
            self.message_user(
                request,
                _("This refill is %(status)s: nothing to cancel.")
                % {"status": job.get_status_display()},
            )
        else:
            job = dataset_refill_cancel(job=job, user=request.user, as_admin=True)
            self.message_user(
                request,
                _("Refill %(id)s is %(status)s.")
                % {"id": job.pk, "status": job.get_status_display()},
                messages.SUCCESS,
            )
        back = request.POST.get("next", "")
        dataset_url = reverse("admin:datasets_dataset_change", args=[job.dataset_id])
        return HttpResponseRedirect(
            dataset_url
            if back == "dataset"
            else reverse("admin:datasets_refilljob_change", args=[job.pk])
        )

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = get_object_or_404(RefillJob, pk=pk)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return JsonResponse({**job_frame(job=job, with_message=True), "errors": job.errors})
