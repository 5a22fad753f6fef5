"""Versions in the admin: per dataset with their counts, "Activate" (rollback) for a retired
one, and the document browser (a version's documents, each one's text and chunks)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from datasets.models import Version, VersionDocument
from datasets.services.refill import dataset_version_activate

DOCUMENTS_PER_PAGE = 100


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    change_form_template = "admin/datasets/version/change_form.html"
    list_display = [
        "dataset",
        "number",
        "status",
        "documents",
        "chunks",
        "embedding_model",  # "": full-text only
        "bytes",
        "created",
        "finished",
    ]
    list_filter = ["status", "dataset"]
    list_select_related = ["dataset"]
    search_fields = ["dataset__name"]
    fields = list_display
    readonly_fields = list_display
    actions = ["activate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # versions are immutable; they are activated, never edited

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # pruning old versions is the refill's, which knows what is in use

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not request.user.has_perm("datasets.change_dataset"):
            actions.pop("activate", None)
        return actions

    def _activate(self, request: HttpRequest, version: Version) -> bool:
        try:
            dataset_version_activate(
                dataset=version.dataset, version=version, user=request.user, as_admin=True
            )
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return False
        self.message_user(
            request,
            _("Version %(number)s of “%(dataset)s” is active again.")
            % {"number": version.number, "dataset": version.dataset},
            messages.SUCCESS,
        )
        return True

    @admin.action(description=gettext_lazy("Activate (roll back to) the selected version"))
    def activate(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one version to activate."), messages.ERROR)
            return
        self._activate(request, queryset.select_related("dataset").get())

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/activate/",
                wrap(require_POST(self.activate_view)),
                name="datasets_version_activate",
            ),
            path(
                "<int:pk>/documents/",
                wrap(self.documents_view),
                name="datasets_version_documents",
            ),
            path(
                "<int:pk>/documents/<int:entry>/",
                wrap(self.document_view),
                name="datasets_version_document",
            ),
            *super().get_urls(),
        ]

    def activate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(Version.objects.select_related("dataset"), pk=pk)
        if not request.user.has_perm("datasets.change_dataset"):
            raise PermissionDenied
        self._activate(request, version)
        return HttpResponseRedirect(reverse("admin:datasets_version_change", args=[pk]))

    def _context(self, request: HttpRequest, version: Version, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "version": version,
            "title": title,
        }

    def documents_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(Version.objects.select_related("dataset"), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        entries = (
            VersionDocument.objects.filter(version=version)
            .select_related("document")
            .defer("document__text")
            .order_by("key")
        )
        page = Paginator(entries, DOCUMENTS_PER_PAGE).get_page(request.GET.get("page"))
        context = self._context(request, version, f"Documents of {version}")
        context["page"] = page
        return TemplateResponse(request, "admin/datasets/version/documents.html", context)

    def document_view(self, request: HttpRequest, pk: int, entry: int) -> HttpResponse:
        version = get_object_or_404(Version.objects.select_related("dataset"), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        item = get_object_or_404(
            VersionDocument.objects.select_related("document"), pk=entry, version=version
        )
        context = self._context(request, version, item.title or item.key)
        context.update(entry=item, chunks=item.document.chunks.order_by("ordinal"))
        return TemplateResponse(request, "admin/datasets/version/document.html", context)
