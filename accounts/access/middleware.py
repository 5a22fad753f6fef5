"""A pending or suspended account can do nothing but sign in, sign out and read its status.

Placed right after AuthenticationMiddleware (settings.py), so every page below it is covered,
the admin's included, without each view remembering to check. A page request is sent to the
status page; anything else (a form post, a JSON call) is a 403 that says why.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from accounts.models import User

# What such an account may still reach: signing in and out, proving its address, resetting
# its password, and the page that tells it where it stands.
_ALLOWED = {
    "account_login",
    "account_logout",
    "account_confirm_email",
    "account_email_verification_sent",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "accounts_policy:status",
    "healthz",
    # The translations of the scripts on the pages above (aiportal/js_catalogue.py).
    "javascript-catalog",
    "js_catalogue_versioned",
}
_DETAIL = {
    User.Status.PENDING: "Your account is waiting for an administrator's approval.",
    User.Status.SUSPENDED: "Your account is suspended.",
}


def _allowed(request: HttpRequest) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.view_name in _ALLOWED


def account_refusal(request: HttpRequest, user) -> HttpResponse | None:
    """The response for a signed-in user who may not act here, or None to go on."""
    if not user.is_authenticated or user.may_act or _allowed(request):
        return None
    if request.method in {"GET", "HEAD"} and "json" not in request.headers.get("Accept", ""):
        return redirect("accounts_policy:status")
    status = user.status if user.status in _DETAIL else User.Status.SUSPENDED
    return JsonResponse({"error": f"account_{status}", "detail": _DETAIL[status]}, status=403)


class AccountStatusMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self._async:
            return self._acall(request)
        return account_refusal(request, request.user) or self.get_response(request)

    async def _acall(self, request: HttpRequest):
        user = await request.auser()
        # auser() and request.user cache separately; share the one lookup with sync views.
        request._cached_user = user
        return account_refusal(request, user) or await self.get_response(request)
