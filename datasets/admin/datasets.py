"""Datasets in the admin: the list, the change page with inline grants and sources (saved
through the services), "Refill now", and "search this dataset as user X".

The admin acts on the staff member's model permissions (``as_admin=True`` to the services),
not on a grant: Django's permissions decide who may change datasets here, and the services
still validate, publish and record who did it."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from datasets.admin.forms import GrantFormSet, GrantInlineForm, SearchAsForm, SourceInlineForm
from datasets.models import Dataset, Grant, Level, RefillJob, Source
from datasets.selectors import chunk_search, dataset_level_for
from datasets.services import (
    dataset_create,
    grant_revoke,
    grant_set,
    source_add,
    source_remove,
    source_update,
)
from datasets.services.events import datasets_changed_publish
from datasets.services.refill import dataset_refill_start

SEARCH_LIMIT = 20


class GrantInline(admin.TabularInline):
    model = Grant
    form = GrantInlineForm
    formset = GrantFormSet
    extra = 0
    fields = ["user", "group", "level", "expires_at", "state", "created_by", "created"]
    readonly_fields = ["state", "created_by", "created"]
    autocomplete_fields = ["user", "group"]

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: Grant) -> str:
        if obj.pk is None:
            return ""
        if obj.pending_email or obj.pending_group:
            return f"pending: {obj.grantee} (no such account or group yet)"
        return "expired" if obj.expires_at and obj.expires_at <= timezone.now() else "in force"


class SourceInline(admin.StackedInline):
    model = Source
    form = SourceInlineForm
    extra = 0
    fields = ["kind", "urls", "sitemap_url", "folder_root", "folder_path", "files"]


def refill_start(request: HttpRequest, dataset: Dataset) -> tuple[RefillJob, bool]:
    """Start a refill, or join the active one; says which (True: joined)."""
    active = set(
        RefillJob.objects.filter(dataset=dataset, status__in=RefillJob.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    job = dataset_refill_start(dataset=dataset, user=request.user, as_admin=True)
    return job, job.pk in active


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    change_form_template = "admin/datasets/dataset/change_form.html"
    list_display = [
        "name",
        "owner",
        "active_version_number",
        "last_refill",
        "document_count",
        "schedule_minutes",
        "updated",
    ]
    list_select_related = ["owner", "active_version"]
    search_fields = ["name", "slug", "description", "owner__email"]
    list_filter = ["schedule_minutes", "created", ("active_version", admin.EmptyFieldListFilter)]
    readonly_fields = ["slug", "active_version", "created", "updated"]
    autocomplete_fields = ["owner"]
    inlines = [GrantInline, SourceInline]
    actions = ["refill_now"]

    def get_fields(self, request: HttpRequest, obj: Dataset | None = None) -> list[str]:
        fields = [
            "name",
            "description",
            "owner",
            "allowed_regions",
            "schedule_minutes",
            "keep_versions",
        ]
        if obj is not None:
            fields += ["slug", "active_version", "created", "updated"]
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dataset]:
        last = RefillJob.objects.filter(dataset=OuterRef("pk")).order_by("-created", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(last_refill_status=Subquery(last.values("status")[:1]))
        )

    @admin.display(description=gettext_lazy("active version"), ordering="active_version__number")
    def active_version_number(self, obj: Dataset) -> str:
        return str(obj.active_version.number) if obj.active_version else "—"

    @admin.display(description=gettext_lazy("last refill"), ordering="last_refill_status")
    def last_refill(self, obj: Dataset) -> str:
        return obj.last_refill_status or "never"

    @admin.display(description=gettext_lazy("documents"), ordering="active_version__documents")
    def document_count(self, obj: Dataset) -> int:
        return obj.active_version.documents if obj.active_version else 0

    # --- Saving ----------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Dataset, form, change: bool) -> None:
        if not change:
            # Through the service: a free slug, the name tidied, the owner told.
            made = dataset_create(
                user=obj.owner,
                name=obj.name,
                description=obj.description,
                allowed_regions=obj.allowed_regions,
                schedule_minutes=obj.schedule_minutes,
                keep_versions=obj.keep_versions,
            )
            # The inlines are saved against this same object next.
            obj.pk, obj.slug, obj.name = made.pk, made.slug, made.name
            obj.created, obj.updated = made.created, made.updated
            obj._state.adding = False
            obj._state.db = made._state.db
            return
        before = Dataset.objects.filter(pk=obj.pk).values_list("owner_id", flat=True).first()
        super().save_model(request, obj, form, change)
        if before != obj.owner_id:
            # A new owner (or the old one) sees a different list of datasets now.
            datasets_changed_publish(user_ids=[i for i in (before, obj.owner_id) if i])

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is Grant:
            self._grants_save(request, form.instance, formset)
        elif formset.model is Source:
            self._sources_save(request, form.instance, formset)
        else:
            super().save_formset(request, form, formset, change)

    def _grants_save(self, request: HttpRequest, dataset: Dataset, formset) -> None:
        # Through grant_set/grant_revoke: the same checks as the app, the change announced to
        # the people concerned, and a query right after this save sees the new grant.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for f in formset.deleted_forms:
            if f.instance.pk is not None:
                grant_revoke(grant=f.instance, user=request.user, as_admin=True)
                formset.deleted_objects.append(f.instance)
        for f in formset.forms:
            if f in formset.deleted_forms or not f.has_changed():
                continue
            data = f.cleaned_data
            was = f.instance.pk
            if was is not None and (
                f.initial.get("user") != (data["user"] and data["user"].pk)
                or f.initial.get("group") != (data["group"] and data["group"].pk)
            ):
                # The row now names someone else: the old person loses the grant.
                grant_revoke(grant=Grant.objects.get(pk=was), user=request.user, as_admin=True)
                was = None
            grant = grant_set(
                dataset=dataset,
                user=request.user,
                as_admin=True,
                for_user=data["user"],
                for_group=data["group"],
                level=data["level"],
                expires_at=data["expires_at"],
            )
            f.instance = grant
            if was is None:
                formset.new_objects.append(grant)
            else:
                formset.changed_objects.append((grant, f.changed_data))

    def _sources_save(self, request: HttpRequest, dataset: Dataset, formset) -> None:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for f in formset.deleted_forms:
            if f.instance.pk is not None:
                source_remove(source=f.instance, user=request.user, as_admin=True)
                formset.deleted_objects.append(f.instance)
        for f in formset.forms:
            if f in formset.deleted_forms or not f.has_changed():
                continue
            data = f.cleaned_data
            if f.instance.pk is not None and f.initial.get("kind") == data["kind"]:
                source = source_update(
                    source=Source.objects.get(pk=f.instance.pk),
                    user=request.user,
                    config=data["config"],
                    as_admin=True,
                )
                formset.changed_objects.append((source, f.changed_data))
                continue
            if f.instance.pk is not None:  # another kind: a different source altogether
                source_remove(
                    source=Source.objects.get(pk=f.instance.pk), user=request.user, as_admin=True
                )
            source = source_add(
                dataset=dataset,
                user=request.user,
                kind=data["kind"],
                config=data["config"],
                as_admin=True,
            )
            f.instance = source
            formset.new_objects.append(source)

    # --- Refill ----------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Refill now"), permissions=["change"])
    def refill_now(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        started = joined = 0
        for dataset in queryset:
            _job, was_active = refill_start(request, dataset)
            joined += was_active
            started += not was_active
        self.message_user(
            request,
            _("Refills started: %(started)s; already running (joined): %(joined)s.")
            % {"started": started, "joined": joined},
            messages.SUCCESS,
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/refill/",
                wrap(require_POST(self.refill_view)),
                name="datasets_dataset_refill",
            ),
            path("<int:pk>/search/", wrap(self.search_view), name="datasets_dataset_search"),
            *super().get_urls(),
        ]

    def refill_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        dataset = get_object_or_404(Dataset, pk=pk)
        if not self.has_change_permission(request, dataset):
            raise PermissionDenied
        job, joined = refill_start(request, dataset)
        self.message_user(
            request,
            _("A refill of “%(dataset)s” was already %(status)s: showing it.")
            % {"dataset": dataset, "status": job.get_status_display()}
            if joined
            else _("Refill of “%(dataset)s” queued.") % {"dataset": dataset},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:datasets_dataset_change", args=[dataset.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = RefillJob.objects.filter(dataset_id=object_id).order_by("-created", "-id").first()
        return super().change_view(
            request, object_id, form_url, extra_context={**(extra_context or {}), "job": job}
        )

    # --- Search as -------------------------------------------------------------------------

    def search_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        dataset = get_object_or_404(Dataset.objects.select_related("active_version"), pk=pk)
        if not self.has_view_permission(request, dataset):
            raise PermissionDenied
        form = SearchAsForm(request.GET or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "dataset": dataset,
            "form": form,
            "title": f"Search “{dataset}” as a user",
        }
        if form.is_valid():
            who = form.cleaned_data["user"]
            level = dataset_level_for(user=who, dataset=dataset)
            context.update(
                who=who,
                level=level.label if level is not None else None,
                can_query=level is not None and level >= Level.QUERY,
                hits=chunk_search(
                    user=who,
                    query=form.cleaned_data["query"],
                    dataset_ids=[dataset.pk],
                    limit=SEARCH_LIMIT,
                ),
            )
        return TemplateResponse(request, "admin/datasets/dataset/search.html", context)
