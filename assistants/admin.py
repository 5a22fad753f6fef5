"""Assistants in the admin, looking like the datasets' admin: the list, the change page with
inline grants saved through the services (checked, audited), and organisation assistants
(no owner) made here.

The admin acts on the staff member's model permissions (``as_admin=True`` to the services),
not on a grant. Starter prompts are typed one per line and datasets ticked from the list,
not as raw JSON; ``Assistant.clean`` checks them as it does for the people's page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from assistants.models import MAX_STARTERS, Assistant, AssistantGrant
from assistants.services import assistant_grant_add, assistant_grant_remove
from datasets.models import Dataset
from tools.models import McpTool


class AssistantAdminForm(forms.ModelForm):
    starters = forms.CharField(
        label=_("Starter prompts"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("One per line, at most %(n)s.") % {"n": MAX_STARTERS},
    )
    dataset_choice = forms.ModelMultipleChoiceField(
        label=_("Datasets"),
        queryset=Dataset.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Searched on every turn, for each person only if they may query it."),
    )

    tool_choice = forms.MultipleChoiceField(
        label=_("Tools"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Offered to the model on every turn, for each person only if they may use it."),
    )

    class Meta:
        model = Assistant
        fields = [
            "name",
            "icon",
            "colour",
            "description",
            "owner",
            "system_prompt",
            "model",
            "temperature",
            "top_p",
            "max_tokens",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].help_text = _("Empty: an organisation assistant, shared by grants.")
        if self.instance.pk is not None:
            self.initial["starters"] = "\n".join(self.instance.starter_prompts or [])
            self.initial["dataset_choice"] = list(self.instance.datasets or [])
            self.initial["tool_choice"] = list(self.instance.tools or [])
        # Every enabled tool of every server (admins choose for the organisation); one the
        # assistant names that is gone since stays listed so that saving does not drop it.
        names = [
            t.full_name
            for t in McpTool.objects.select_related("server").filter(
                enabled=True, missing=False, server__enabled=True
            )
        ]
        kept = [n for n in (self.instance.tools or []) if n not in names]
        self.fields["tool_choice"].choices = [(n, n) for n in sorted([*names, *kept])]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # Set before the model's own clean (run by _post_clean, after this) checks them.
        lines = (data.get("starters") or "").splitlines()
        self.instance.starter_prompts = [line.strip() for line in lines if line.strip()]
        chosen = data.get("dataset_choice") or []
        self.instance.datasets = [d.pk for d in chosen]
        self.instance.tools = list(data.get("tool_choice") or [])
        return data

    # The model's checks name its fields; here they are typed in these two.
    _FIELD_OF = {
        "starter_prompts": "starters",
        "datasets": "dataset_choice",
        "tools": "tool_choice",
    }

    def _update_errors(self, errors: ValidationError) -> None:
        if hasattr(errors, "error_dict"):
            errors = ValidationError(
                {self._FIELD_OF.get(name, name): e for name, e in errors.error_dict.items()}
            )
        super()._update_errors(errors)


class AssistantGrantForm(forms.ModelForm):
    class Meta:
        model = AssistantGrant
        fields = ["user", "group", "level"]

    def __init__(self, *args: Any, assistant: Assistant | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.assistant = assistant

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("DELETE"):
            return data
        user, group = data.get("user"), data.get("group")
        if (user is None) == (group is None):
            raise forms.ValidationError(
                _("Share with one person or one group: choose exactly one.")
            )
        owner = self.assistant.owner_id if self.assistant is not None else None
        if user is not None and owner is not None and user.pk == owner:
            raise forms.ValidationError(_("The owner already manages the assistant."))
        return data


class AssistantGrantFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        # The assistant as the page has it (its owner included, even before it is saved).
        return {**super().get_form_kwargs(index), "assistant": self.instance}


class AssistantGrantInline(admin.TabularInline):
    model = AssistantGrant
    form = AssistantGrantForm
    formset = AssistantGrantFormSet
    extra = 0
    fields = ["user", "group", "level", "created_by", "created"]
    readonly_fields = ["created_by", "created"]
    autocomplete_fields = ["user", "group"]


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    form = AssistantAdminForm
    list_display = ["name", "icon", "colour", "owner_or_organisation", "model", "updated"]
    list_select_related = ["owner"]
    search_fields = ["name", "description", "owner__email"]
    list_filter = [("owner", admin.EmptyFieldListFilter), "colour", "created"]
    readonly_fields = ["created", "updated"]
    autocomplete_fields = ["owner"]
    inlines = [AssistantGrantInline]
    fieldsets = [
        (None, {"fields": ["name", "icon", "colour", "description", "owner"]}),
        (
            _("What it does"),
            {"fields": ["system_prompt", "model", "dataset_choice", "tool_choice", "starters"]},
        ),
        (_("Sampling"), {"fields": ["temperature", "top_p", "max_tokens"]}),
        (_("Dates"), {"fields": ["created", "updated"]}),
    ]

    @admin.display(description=_("owner"), ordering="owner__email")
    def owner_or_organisation(self, obj: Assistant) -> str:
        return obj.owner.email if obj.owner_id else str(_("organisation"))

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not AssistantGrant:
            super().save_formset(request, form, formset, change)
            return
        # Through the services: the same checks as the page, and every change audited.
        assistant = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for f in formset.deleted_forms:
            if f.instance.pk is not None:
                assistant_grant_remove(grant=f.instance, user=request.user, as_admin=True)
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
                # The row now names someone else: the old grantee loses it.
                assistant_grant_remove(
                    grant=AssistantGrant.objects.get(pk=was), user=request.user, as_admin=True
                )
                was = None
            grant = assistant_grant_add(
                assistant=assistant,
                user=request.user,
                as_admin=True,
                for_user=data["user"],
                for_group=data["group"],
                level=data["level"],
            )
            f.instance = grant
            if was is None:
                formset.new_objects.append(grant)
            else:
                formset.changed_objects.append((grant, f.changed_data))
