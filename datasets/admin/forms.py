"""The admin's forms: grant and source rows (checked as the services check them, so a
mistake is a form error next to the field rather than a failed save), and "search as"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from accounts.models import User
from datasets.models import Dataset, Grant, Source
from datasets.sources import source_config_check


class GrantInlineForm(forms.ModelForm):
    class Meta:
        model = Grant
        fields = ["user", "group", "level", "expires_at"]

    def __init__(self, *args: Any, dataset: Dataset | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dataset = dataset

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.cleaned_data.get("DELETE"):
            return data
        user, group = data.get("user"), data.get("group")
        pending = self.instance.pk and (self.instance.pending_email or self.instance.pending_group)
        if pending and user is None and group is None:
            if self.has_changed():
                raise forms.ValidationError(
                    "A pending grant can only be deleted here, or given a user or a group; "
                    "change its level by granting again on the dataset's page."
                )
            return data  # a pending grant from the dataset page, left as it is (its "state")
        if (user is None) == (group is None):
            raise forms.ValidationError("Grant to one person or one group: choose exactly one.")
        dataset = self.dataset
        if user is not None and dataset is not None and user.pk == dataset.owner_id:
            self.add_error("user", "The owner already manages the dataset.")
        expires = data.get("expires_at")
        if expires is not None and expires <= timezone.now():
            self.add_error("expires_at", "The expiry is in the past: the grant would never apply.")
        return data


class GrantFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        # The dataset as the page has it, its owner included: on the add page it is not
        # saved yet, so the form's own instance cannot reach it.
        return {**super().get_form_kwargs(index), "dataset": self.instance}


class SourceInlineForm(forms.ModelForm):
    class Meta:
        model = Source
        fields = ["kind", "config"]
        help_texts = {
            "config": (
                'JSON. urls: {"urls": ["https://…"]}; sitemap: {"url": "https://…/sitemap.xml"}; '
                'folder: {"root": "name of a root", "path": "relative/path"}.'
            )
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "{}" is a config too (an empty one): let the sources package say what it lacks.
        self.fields["config"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.cleaned_data.get("DELETE"):
            return data
        kind, config = data.get("kind"), data.get("config")
        if kind is None or "config" in self.errors:
            return data
        if not isinstance(config, dict):
            self.add_error("config", 'The config is a JSON object: {"key": value, …}.')
            return data
        try:
            data["config"] = source_config_check(kind=kind, config=config)
        except ValueError as exc:
            self.add_error("config", str(exc))
        return data


class SearchAsForm(forms.Form):
    user = forms.CharField(
        label="As user", max_length=254, help_text="Their email address or user name."
    )
    query = forms.CharField(max_length=500)

    def clean_user(self) -> User:
        value = self.cleaned_data["user"].strip()
        user = (
            User.objects.filter(email__iexact=value).first()
            or User.objects.filter(username=value).first()
        )
        if user is None:
            raise forms.ValidationError(f"No user has the email address or user name “{value}”.")
        return user
