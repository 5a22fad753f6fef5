"""The admin's forms: grant and source rows (checked as the services check them, so a
mistake is a form error next to the field rather than a failed save), and "search as"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from datasets.models import Dataset, Grant, Source
from datasets.sources import source_config_check
from datasets.sources.folders import folder_roots


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
            raise forms.ValidationError(_("Grant to one person or one group: choose exactly one."))
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


def _root_names() -> str:
    try:
        names = sorted(folder_roots())
    except ValueError as exc:  # a malformed AIPORTAL_DATASET_ROOTS: say so where it matters
        return str(exc)
    return ", ".join(names) or "none is configured (AIPORTAL_DATASET_ROOTS)"


class SourceInlineForm(forms.ModelForm):
    """A source as fields of its kind, not raw JSON: the URLs one per line, a sitemap's
    address, a server folder's root and path. Only the chosen kind's fields are read (the
    page shows only those: static/datasets/source_form.js); they are assembled into the
    config and checked by the sources package, whose message lands on the field at fault."""

    urls = forms.CharField(
        label=_("URLs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("One address per line (http or https)."),
    )
    sitemap_url = forms.CharField(
        label=_("Sitemap URL"),
        required=False,
        max_length=2000,
        widget=forms.URLInput(attrs={"size": 60}),
        help_text=_("The sitemap.xml whose pages are read."),
    )
    folder_root = forms.CharField(label=_("Root"), required=False, max_length=100)
    folder_path = forms.CharField(
        label=_("Path"),
        required=False,
        max_length=1000,
        help_text=_("Inside the root; empty for the whole root."),
    )
    files = forms.CharField(
        label=_("Uploaded files"),
        required=False,
        disabled=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Files are uploaded and removed on the dataset's own page, not here."),
    )

    # Each kind's fields, and the field its errors are shown on.
    KIND_FIELDS = {
        "urls": ("urls",),
        "sitemap": ("sitemap_url",),
        "folder": ("folder_root", "folder_path"),
        "upload": ("files",),
    }
    ERROR_FIELD = {"urls": "urls", "sitemap": "sitemap_url", "folder": "folder_path"}

    class Meta:
        model = Source
        fields = ["kind"]

    class Media:
        js = ["datasets/source_form.js"]
        css = {"all": ["datasets/source_form.css"]}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["folder_root"].help_text = f"A configured root: {_root_names()}."
        config = self.instance.config if self.instance.pk else {}
        kind = self.instance.kind if self.instance.pk else ""
        initial = {
            "urls": "\n".join(config.get("urls", [])) if kind == "urls" else "",
            "sitemap_url": config.get("url", "") if kind == "sitemap" else "",
            "folder_root": config.get("root", "") if kind == "folder" else "",
            "folder_path": config.get("path", "") if kind == "folder" else "",
            "files": "\n".join(f.get("name", "") for f in config.get("files", []))
            if kind == "upload"
            else "",
        }
        for name, value in initial.items():
            self.fields[name].initial = value

    def _config(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        if kind == "urls":
            return {"urls": data.get("urls") or ""}
        if kind == "sitemap":
            return {"url": data.get("sitemap_url") or ""}
        if kind == "folder":
            return {"root": data.get("folder_root") or "", "path": data.get("folder_path") or ""}
        return {}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.cleaned_data.get("DELETE"):
            return data
        kind = data.get("kind")
        if kind is None:
            return data
        if kind == "upload":
            if self.instance.pk and self.instance.kind == "upload":
                data["config"] = self.instance.config  # unchanged: files are not edited here
            else:
                self.add_error("kind", "Upload files on the dataset's own page.")
            return data
        try:
            data["config"] = source_config_check(kind=kind, config=self._config(kind, data))
        except ValueError as exc:
            self.add_error(self.ERROR_FIELD.get(kind, "kind"), str(exc))
        return data


class SearchAsForm(forms.Form):
    user = forms.CharField(
        label=_("As user"), max_length=254, help_text=_("Their email address or user name.")
    )
    query = forms.CharField(label=_("Query"), max_length=500)

    def clean_user(self) -> User:
        value = self.cleaned_data["user"].strip()
        user = (
            User.objects.filter(email__iexact=value).first()
            or User.objects.filter(username=value).first()
        )
        if user is None:
            raise forms.ValidationError(f"No user has the email address or user name “{value}”.")
        return user
