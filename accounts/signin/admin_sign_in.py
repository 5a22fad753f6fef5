"""Django admin's own sign-in and password pages, sent to the product's.

Django admin's login form calls ``login()`` straight after the password: no second factor,
no guessing limits, none of allauth's checks. Nobody signs in there any more: /admin/login/
sends people to allauth's sign-in (password, second factor, SSO) with the page they wanted
as ``next`` when it is on this site, and /admin/password_change/ to allauth's password page,
which asks for the old password under its own limits.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache


def _safe_next(request: HttpRequest) -> str:
    target = request.GET.get("next") or request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


@never_cache
def admin_login(request: HttpRequest) -> HttpResponse:
    target = _safe_next(request)
    user = request.user
    if user.is_authenticated:
        if user.is_active and user.is_staff:
            return redirect(target)
        # Signed in, but not an admin: sending them to the sign-in page would bounce them
        # straight back here (allauth sends a signed-in person on to ``next``).
        return render(request, "accounts/admin_refused.html", status=403)
    return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")


@never_cache
def admin_password_change(request: HttpRequest) -> HttpResponse:
    return redirect("account_change_password")
