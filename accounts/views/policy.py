"""The pages of the sign-up policy: an invitation's link, and the status page a pending or
suspended account is sent to (accounts/access/middleware.py)."""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import User
from accounts.signup import invites


@require_GET
@never_cache
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the mailed link proves the mailbox: the address is stashed as verified for
    this session, and the sign-up page accepts it (accounts/signup/forms.py)."""
    invite = invites.invite_by_token(token=token)
    if invite is None or not invite.is_live():
        return render(request, "accounts/invite_invalid.html", {"invite": invite}, status=410)
    if request.user.is_authenticated:
        return render(request, "accounts/invite_signed_in.html", {"invite": invite})
    get_adapter(request).stash_verified_email(request, invite.email)
    return redirect("account_signup")


@require_GET
@never_cache
@login_required
def account_status(request: HttpRequest) -> HttpResponse:
    """Where a pending or suspended account stands; an active one has nothing to wait for."""
    if request.user.may_act:
        return redirect("chat:index")
    pending = request.user.status == User.Status.PENDING
    return render(
        request, "accounts/status.html", {"pending": pending}, status=200 if pending else 403
    )
