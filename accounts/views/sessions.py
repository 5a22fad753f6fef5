"""Signing one session out from the sessions page (allauth's own view lists them and signs
out all the others at once)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.signin.sessions import UsersessionNotFound, usersession_end


@require_POST
@login_required
def session_end(request: HttpRequest, pk: int) -> HttpResponse:
    current = request.session.session_key
    try:
        ended = usersession_end(user=request.user, id=pk)
    except UsersessionNotFound:
        raise Http404("No such session.") from None
    if ended.session_key == current:
        logout(request)
        return redirect("account_login")
    messages.success(
        request, _("The session from %(address)s is signed out.") % {"address": ended.ip}
    )
    return redirect("usersessions_list")
