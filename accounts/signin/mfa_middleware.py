"""The second factor, on every request of a signed-in person:

- a session signed in without the second factor its person has (any ``login()`` that did not
  go through allauth's sign-in, such as Django admin's own form) is ended, on every path,
  the account pages included: that person signs in again, with the factor;
- a person whom the policy requires to have a second factor, and who has none, is sent to
  enrol from every page but the account pages (sign out, email, password, the second-factor
  pages themselves) and static files.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.signin.mfa import (
    SESSION_CHECKED_KEY,
    mfa_enrolment_required,
    session_second_factor_skipped,
)

# Marked (gettext_noop) and translated where shown: callers compare the English text.
ENROL_MESSAGE = gettext_noop(
    "Your administrators require two-factor authentication: set up an authenticator app or "
    "a security key to continue."
)
SKIPPED_MESSAGE = gettext_noop(
    "This session was signed in without your second factor, so it has been ended. Sign in "
    "again: you will be asked for your authenticator app or security key."
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
        if user is not None and user.is_authenticated:
            if session_second_factor_skipped(session=request.session, user=user):
                return _session_end(request)
            if request.session.get(SESSION_CHECKED_KEY) != str(user.pk):
                request.session[SESSION_CHECKED_KEY] = str(user.pk)
        if (
            user is not None
            and user.is_authenticated
            and not _exempt(request.path_info)
            and mfa_enrolment_required(user)
        ):
            if request.method not in {"GET", "HEAD"}:
                return HttpResponseForbidden(_(ENROL_MESSAGE), content_type="text/plain")
            messages.warning(request, _(ENROL_MESSAGE))
            return redirect("mfa_index")
        return self.get_response(request)


def _session_end(request):
    logout(request)
    if request.method not in {"GET", "HEAD"}:
        return HttpResponseForbidden(_(SKIPPED_MESSAGE), content_type="text/plain")
    messages.warning(request, _(SKIPPED_MESSAGE))
    # The page asked for is on this site (path_info): a safe place to come back to.
    query = urlencode({"next": request.get_full_path()})
    return redirect(f"{reverse('account_login')}?{query}")
