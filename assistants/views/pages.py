"""The assistants page: server-rendered, one form per action, POST then redirect.

Thin: each view fetches the assistant through ``assistant_get_usable`` with the user (one
they may not use is a 404 like an unknown id), calls one service, and says what happened. A
level too low for an action is the services' ``PermissionDenied`` (a 403: the person knows
it exists)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from assistants.forms import AssistantForm
from assistants.models import Assistant, AssistantGrant, Level
from assistants.selectors import (
    EDIT,
    MANAGE,
    USE,
    assistant_get_usable,
    assistant_grant_list,
    assistant_level_for,
    assistant_levels_for,
    assistant_list_usable,
)
from assistants.services import (
    assistant_create,
    assistant_delete,
    assistant_grant_add_for,
    assistant_grant_remove,
    assistant_update,
)


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _assistant(request: HttpRequest, pk: int, at_least: Level = USE) -> Assistant:
    try:
        return assistant_get_usable(user=request.user, id=pk, at_least=at_least)
    except Assistant.DoesNotExist:
        raise Http404("No such assistant.") from None


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def assistant_list(request: HttpRequest) -> HttpResponse:
    """Every assistant the person may use, and the form to make a new one."""
    form = AssistantForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                assistant = assistant_create(user=request.user, ip=_ip(request), **form.values())
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Created “%(name)s”.") % {"name": assistant.name})
                return redirect("assistants:detail", pk=assistant.pk)
        status = 400
    rows = list(assistant_list_usable(user=request.user).select_related("owner"))
    levels = assistant_levels_for(user=request.user, assistants=rows)
    return render(
        request,
        "assistants/list.html",
        {"rows": [{"assistant": a, "level": levels[a.pk]} for a in rows], "form": form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def assistant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The assistant: editable with the edit level, its sharing with manage."""
    assistant = _assistant(request, pk)
    level = assistant_level_for(user=request.user, assistant=assistant) or USE
    form = (
        AssistantForm(request.POST or None, user=request.user, assistant=assistant)
        if level >= EDIT
        else None
    )
    status = 200
    if request.method == "POST":
        if form is None:
            raise PermissionDenied(_("This needs the edit level."))
        if form.is_valid():
            try:
                assistant_update(assistant=assistant, user=request.user, **form.values())
            except ValueError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Saved."))
                return redirect("assistants:detail", pk=assistant.pk)
        status = 400
    context = {
        "assistant": assistant,
        "level": level,
        "can_edit": level >= EDIT,
        "can_manage": level >= MANAGE,
        "form": form,
        "grants": assistant_grant_list(user=request.user, assistant=assistant)
        if level >= MANAGE
        else [],
        "levels": Level.choices,
    }
    return render(request, "assistants/detail.html", context, status=status)


@require_POST
@login_required
def assistant_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    assistant = _assistant(request, pk)
    assistant_delete(assistant=assistant, user=request.user, ip=_ip(request))
    messages.success(request, _("Deleted “%(name)s”.") % {"name": assistant.name})
    return redirect("assistants:list")


@require_POST
@login_required
def assistant_grant_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    assistant = _assistant(request, pk)
    who = request.POST.get("who", "").strip()
    try:
        # The same answer whether or not "who" exists: the form tells nobody who has an
        # account (assistants/services.py).
        assistant_grant_add_for(
            assistant=assistant,
            user=request.user,
            who=who,
            level=request.POST.get("level", ""),
            ip=_ip(request),
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Shared with %(who)s, if that is a person with an account or a group.")
            % {"who": who},
        )
    return redirect("assistants:detail", pk=assistant.pk)


@require_POST
@login_required
def assistant_grant_remove_view(request: HttpRequest, pk: int, grant_pk: int) -> HttpResponse:
    assistant = _assistant(request, pk)
    try:
        grant = assistant_grant_list(user=request.user, assistant=assistant).get(pk=grant_pk)
    except AssistantGrant.DoesNotExist:
        raise Http404("No such grant.") from None
    assistant_grant_remove(grant=grant, user=request.user, ip=_ip(request))
    messages.success(request, _("No longer shared with %(who)s.") % {"who": grant.grantee})
    return redirect("assistants:detail", pk=assistant.pk)
