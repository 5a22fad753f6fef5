"""Settings → Preferences: the model a new chat starts with, custom instructions for every new
chat, and the theme. Thin: the form, then ``preferences_update``.

The model menu holds the saved model and the admins' default; the page's script adds the
models the gateway serves to this person now (the chat's own models endpoint): accounts sits
below the gateway, and the gateway's pool is read asynchronously."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.models import Preferences
from accounts.preferences import (
    INSTRUCTIONS_MAX_CHARS,
    PreferencesRefused,
    preferences_get,
    preferences_update,
)


class PreferencesForm(forms.Form):
    # Any name: whether this person may use it is the chat's check on every turn, as for
    # the picker's choice.
    default_model = forms.CharField(
        label=gettext_lazy("Default model"),
        required=False,
        max_length=200,
        help_text=gettext_lazy(
            "The model a new chat starts with. The picker above a chat still changes it."
        ),
    )
    custom_instructions = forms.CharField(
        label=gettext_lazy("Custom instructions"),
        required=False,
        max_length=INSTRUCTIONS_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=gettext_lazy(
            "Sent to the model as the system message of every new chat, e.g. “Answer in "
            "British English, briefly.” A chat's own instructions can still be changed in it; "
            "chats you already have keep theirs."
        ),
    )
    theme = forms.ChoiceField(
        label=gettext_lazy("Theme"),
        choices=Preferences.Theme.choices,
        widget=forms.RadioSelect,
        help_text=gettext_lazy("On every page, on every device you sign in on."),
    )
    # Each language named in itself (settings.LANGUAGES), so a person who cannot read the
    # current one still finds theirs.
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        required=False,
        choices=[("", gettext_lazy("Like the browser")), *settings.LANGUAGES],
        help_text=gettext_lazy(
            "The language of every page. Like the browser: the one your browser asks for."
        ),
    )

    def __init__(self, *args, saved_model: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("The admins' default"))]
        if saved_model:
            choices.append((saved_model, saved_model))
        self.fields["default_model"].widget = forms.Select(choices=choices)


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def preferences_page(request: HttpRequest) -> HttpResponse:
    saved = preferences_get(user=request.user)
    form = PreferencesForm(
        request.POST if request.method == "POST" else None,
        initial={
            "default_model": saved.default_model,
            "custom_instructions": saved.custom_instructions,
            "theme": saved.theme,
            "language": saved.language,
        },
        saved_model=saved.default_model,
    )
    if request.method == "POST" and form.is_valid():
        try:
            preferences = preferences_update(user=request.user, **form.cleaned_data)
        except PreferencesRefused as exc:
            form.add_error(None, str(exc))
        else:
            # In the language just chosen: the page it shows on is.
            language = preferences.language or translation.get_language_from_request(request)
            with translation.override(language):
                messages.success(request, _("Your preferences are saved."))
            return redirect("settings:preferences")
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/preferences.html", {"form": form}, status=status)
