"""Organisation prompts in Django admin: made by admins, owned by nobody, shown to everyone
or to the groups chosen. People's own prompts are theirs and are not listed here (their
owner's page, /prompts/, is where they live)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from prompts.models import SavedPrompt


@admin.register(SavedPrompt)
class OrganisationPromptAdmin(admin.ModelAdmin):
    list_display = ("command", "title", "shown_to", "updated_at")
    search_fields = ("command", "title", "body")
    fields = ("title", "command", "description", "body", "groups")
    filter_horizontal = ("groups",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SavedPrompt]:
        return super().get_queryset(request).filter(owner__isnull=True).prefetch_related("groups")

    def save_model(self, request: HttpRequest, obj: SavedPrompt, form, change: bool) -> None:
        obj.owner = None
        super().save_model(request, obj, form, change)

    @admin.display(description=gettext_lazy("shown to"))
    def shown_to(self, obj: SavedPrompt) -> str:
        names = [group.name for group in obj.groups.all()]
        return ", ".join(names) if names else _("everyone")
