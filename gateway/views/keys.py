"""Settings → API keys: list your keys, create one (its plaintext shown once), revoke one;
your usage this month per model, with its cost at the admin's prices, and your limits.

Every lookup goes through a selector that takes the signed-in user: another user's key id
answers 404, exactly like a missing one.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.audit import request_ip
from gateway import keys
from gateway.callers import limits_for_user
from gateway.costs import usage_by_model_for_user

EXPIRY_CHOICES = [
    ("", _("Never")),
    ("7", _("In 7 days")),
    ("30", _("In 30 days")),
    ("90", _("In 90 days")),
    ("365", _("In a year")),
]


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What the key is for, e.g. “laptop scripts”."),
        strip=True,
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label=_("Expires"))

    def expires_at(self):
        days = self.cleaned_data.get("expires")
        return timezone.now() + timedelta(days=int(days)) if days else None


def _list_page(request: HttpRequest, form: ApiKeyCreateForm, *, status: int = 200):
    # This month's usage, from the first of the month in the site's time zone.
    since = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    context = {
        "keys": keys.apikey_list(user=request.user),
        "form": form,
        "usage": usage_by_model_for_user(user=request.user, since=since),
        "usage_since": since,
        "limits": limits_for_user(request.user.pk),
    }
    return render(request, "gateway/keys.html", context, status=status)


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def key_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _list_page(request, ApiKeyCreateForm())
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    key, plaintext = keys.apikey_create(
        user=request.user,
        name=form.cleaned_data["name"],
        expires_at=form.expires_at(),
        ip=request_ip(request),
    )
    # Rendered, not redirected: a redirect would have to keep the plaintext somewhere (the
    # session is a database row) until the next page. never_cache keeps it out of caches.
    return render(request, "gateway/key_created.html", {"key": key, "plaintext": plaintext})


@require_POST
@never_cache
@login_required
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        key = keys.apikey_get(user=request.user, id=pk)
    except keys.KeyNotFound:
        raise Http404("No such key.") from None
    keys.apikey_revoke(key=key, by=request.user, ip=request_ip(request))
    messages.success(
        request,
        _("The key “%(name)s” (%(key)s) is revoked.") % {"name": key.name, "key": key.display},
    )
    return redirect("apikeys:list")
