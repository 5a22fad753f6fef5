"""Sends a signed-in person whom the policy requires to have a second factor, and who has
none, to enrol: from every page but the account pages (sign out, email, password, the
second-factor pages themselves) and static files."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseForbidden
from django.shortcuts import redirect

from accounts.mfa import mfa_enrolment_required

ENROL_MESSAGE = (
    "Your administrators require two-factor authentication: set up an authenticator app or "
    "a security key to continue."
)


def _exempt(path: str) -> bool:
    # /accounts/ is allauth's: signing out, confirming an email address (needed before a
    # factor can be added), re-authenticating and enrolling all live there.
    return (
        path.startswith("/accounts/")
        or path.startswith(settings.STATIC_URL)
        or path in {"/healthz", "/favicon.ico"}
    )


class MfaRequiredMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not _exempt(request.path_info)
            and mfa_enrolment_required(user)
        ):
            if request.method not in {"GET", "HEAD"}:
                return HttpResponseForbidden(ENROL_MESSAGE, content_type="text/plain")
            messages.warning(request, ENROL_MESSAGE)
            return redirect("mfa_index")
        return self.get_response(request)
