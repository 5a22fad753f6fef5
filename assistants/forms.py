"""The assistant's form on the people's page: the fields as a person fills them (starter
prompts one per box, datasets as ticks of those they may search), turned into the services'
keyword arguments. Validation is the model's (``Assistant.clean``), run by the service."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from assistants.models import MAX_STARTERS, STARTER_MAX_CHARS, Assistant, Colour
from datasets.models import Level as DatasetLevel
from datasets.selectors import dataset_list_at_least
from tools.selectors import tools_for_picker


class AssistantForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    icon = forms.CharField(
        label=_("Icon"),
        max_length=8,
        initial="🤖",
        help_text=_("One emoji, or one or two letters."),
    )
    colour = forms.ChoiceField(label=_("Colour"), choices=Colour.choices, initial=Colour.BLUE)
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    system_prompt = forms.CharField(
        label=_("Instructions (system prompt)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    model = forms.CharField(
        label=_("Model"),
        max_length=200,
        required=False,
        help_text=_("Blank: any model (the one picked in the chat)."),
    )
    temperature = forms.FloatField(
        label=_("Temperature"), required=False, min_value=0, max_value=2, help_text=_("0 to 2")
    )
    top_p = forms.FloatField(
        label=_("Top p"), required=False, min_value=0, max_value=1, help_text=_("above 0, up to 1")
    )
    max_tokens = forms.IntegerField(label=_("Max tokens"), required=False, min_value=1)
    datasets = forms.TypedMultipleChoiceField(
        label=_("Datasets"),
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Searched on every turn, for each person only if they may search it too."),
    )
    tools = forms.MultipleChoiceField(
        label=_("Tools"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Offered to the model on every turn, for each person only if they may use it."),
    )

    def __init__(self, *args: Any, user: User, assistant: Assistant | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.assistant = assistant
        searchable = list(
            dataset_list_at_least(user=user, level=cast(DatasetLevel, DatasetLevel.QUERY)).order_by(
                "name", "id"
            )
        )
        self.searchable = {d.pk for d in searchable}
        self.fields["datasets"].choices = [(d.pk, d.name) for d in searchable]
        usable = tools_for_picker(user=user)
        self.usable_tools = {t["name"] for t in usable}
        self.fields["tools"].choices = [(t["name"], t["name"]) for t in usable]
        for n in range(MAX_STARTERS):
            self.fields[f"starter_{n}"] = forms.CharField(
                label=_("Starter prompt %(n)s") % {"n": n + 1},
                max_length=STARTER_MAX_CHARS,
                required=False,
            )
        if assistant is not None and not self.is_bound:
            for name in ("name", "icon", "colour", "description", "system_prompt", "model"):
                self.initial[name] = getattr(assistant, name)
            for name in ("temperature", "top_p", "max_tokens"):
                self.initial[name] = getattr(assistant, name)
            self.initial["datasets"] = list(assistant.datasets or [])
            self.initial["tools"] = list(assistant.tools or [])
            for n, text in enumerate(assistant.starter_prompts or []):
                self.initial[f"starter_{n}"] = text

    @property
    def starter_fields(self) -> list[forms.BoundField]:
        return [self[f"starter_{n}"] for n in range(MAX_STARTERS)]

    def values(self) -> dict[str, Any]:
        """The services' keyword arguments. Datasets the editor may not search are kept as
        they were: an editor cannot see them to untick them, so saving must not drop them; so are
        tools the editor may not use."""
        data = self.cleaned_data
        hidden = [
            pk
            for pk in (self.assistant.datasets if self.assistant else []) or []
            if pk not in self.searchable
        ]
        hidden_tools = [
            name
            for name in (self.assistant.tools if self.assistant else []) or []
            if name not in self.usable_tools
        ]
        return {
            "name": data["name"],
            "icon": data["icon"].strip(),
            "colour": data["colour"],
            "description": data["description"].strip(),
            "system_prompt": data["system_prompt"].strip(),
            "model": data["model"].strip(),
            "temperature": data["temperature"],
            "top_p": data["top_p"],
            "max_tokens": data["max_tokens"],
            "datasets": [*data["datasets"], *hidden],
            "tools": [*data["tools"], *hidden_tools],
            "starter_prompts": [data[f"starter_{n}"] for n in range(MAX_STARTERS)],
        }
