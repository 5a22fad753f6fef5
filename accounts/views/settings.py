"""Settings pages: the index (links to every part of a person's settings) and "Your data"
(export everything, delete the account). Thin: each view calls one service.

Deleting the account asks for the email address typed out and a recent re-authentication:
allauth's own flow (password, an emailed code, or MFA), which, once passed, replays the
deletion request. Someone with none of those (signed in only through SSO, with no verified
address) must have signed in within the last few minutes instead.
"""

from __future__ import annotations

from datetime import timedelta

from allauth.account import app_settings as allauth_account_settings
from allauth.account.adapter import get_adapter
from allauth.account.decorators import reauthentication_required
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.audit import request_ip
from accounts.privacy.deletion import AccountDeletionRefused, account_delete
from accounts.privacy.export import (
    ACTIVE,
    ExportNotAvailable,
    data_export_download,
    data_export_latest,
    data_export_request,
)
from accounts.privacy.notices import kept_notices


class AccountDeleteForm(forms.Form):
    confirm_email = forms.CharField(
        label=_("Type your email address to confirm"), max_length=254, strip=True
    )


def _has_reauthentication_method(request: HttpRequest) -> bool:
    return bool(get_adapter().get_reauthentication_methods(request.user))


def _signed_in_recently(request: HttpRequest) -> bool:
    last_login = request.user.last_login
    window = timedelta(seconds=allauth_account_settings.REAUTHENTICATION_TIMEOUT)
    return last_login is not None and timezone.now() - last_login < window


@require_GET
@login_required
def settings_index(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/settings.html")


def _data_page(request: HttpRequest, form: AccountDeleteForm, *, status: int = 200):
    export = data_export_latest(user=request.user)
    context = {
        "export": export,
        "export_active": export is not None and export.status in ACTIVE,
        "form": form,
        "needs_fresh_sign_in": not _has_reauthentication_method(request),
        "kept_notices": kept_notices(user=request.user),
    }
    return render(request, "accounts/data.html", context, status=status)


@require_GET
@never_cache
@login_required
def data_page(request: HttpRequest) -> HttpResponse:
    return _data_page(request, AccountDeleteForm())


@require_POST
@login_required
def data_export_start(request: HttpRequest) -> HttpResponse:
    data_export_request(user=request.user, ip=request_ip(request))
    # No message: the page's status line says where the export is, and a "being prepared"
    # message would still show above "ready" when the export is built at once.
    return redirect("settings:data")


@require_POST
@never_cache
@login_required
def data_export_fetch(request: HttpRequest, pk: int) -> FileResponse:
    """POST, not GET: the download is good once, and a link preview or prefetch must not
    use it up."""
    try:
        handle = data_export_download(user=request.user, id=pk, ip=request_ip(request))
    except ExportNotAvailable:
        raise Http404("No such export, or it was already downloaded or has expired.") from None
    stamp = timezone.now().strftime("%Y%m%d")
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"aiportal-data-{stamp}.zip",
        content_type="application/zip",
    )


@require_POST
@never_cache
@login_required
@reauthentication_required(enabled=_has_reauthentication_method)
def account_delete_view(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.POST)
    if not form.is_valid():
        return _data_page(request, form, status=400)
    if not _has_reauthentication_method(request) and not _signed_in_recently(request):
        minutes = max(1, allauth_account_settings.REAUTHENTICATION_TIMEOUT // 60)
        form.add_error(
            None,
            ngettext(
                "Sign out and sign in again, then delete your account within %(count)s minute.",
                "Sign out and sign in again, then delete your account within %(count)s minutes.",
                minutes,
            )
            % {"count": minutes},
        )
        return _data_page(request, form, status=400)
    try:
        account_delete(
            user=request.user,
            confirm_email=form.cleaned_data["confirm_email"],
            ip=request_ip(request),
        )
    except AccountDeletionRefused as exc:
        form.add_error(None, str(exc))
        return _data_page(request, form, status=400)
    # Not logout(): its signal would record a sign-out by an account that no longer exists.
    request.session.flush()
    request.user = AnonymousUser()
    messages.success(request, _("Your account and everything in it are deleted."))
    return redirect("account_login")
