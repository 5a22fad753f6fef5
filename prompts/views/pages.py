"""The prompt library's pages: the list (one's own, shared with one, the organisation's),
the create and edit form, delete, import and export. Server-rendered, one form per action,
POST then redirect; the form's live preview of variables is static/prompts/form.js.

Thin: each view reads through a selector that takes the person (another person's prompt is
a 404, like an unknown id) and calls one service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from prompts.models import SavedPrompt
from prompts.selectors import (
    ORGANISATION,
    OWN,
    SHARED,
    prompt_get_own,
    prompt_groups_shareable,
    prompt_list_visible,
)
from prompts.services import PromptInvalid, prompt_create, prompt_delete, prompt_update
from prompts.transfer import FILE_MAX_BYTES, ImportRefused, prompt_import, prompts_export_json

# How the pages write the syntax (a template cannot write "{{" in a translated sentence).
SYNTAX = {"syntax_variable": "{{name}}", "syntax_default": "{{name|default}}"}


def _own(request: HttpRequest, pk: int) -> SavedPrompt:
    try:
        return prompt_get_own(user=request.user, id=pk)
    except SavedPrompt.DoesNotExist:
        raise Http404("No such prompt.") from None


def _list_context(request: HttpRequest) -> dict[str, Any]:
    prompts = prompt_list_visible(user=request.user)
    return {
        "own": [p for p in prompts if p.source == OWN],
        "shared": [p for p in prompts if p.source == SHARED],
        "organisation": [p for p in prompts if p.source == ORGANISATION],
        "file_max_kib": FILE_MAX_BYTES // 1024,
        **SYNTAX,
    }


@require_GET
@never_cache
@login_required
def prompt_list_page(request: HttpRequest) -> HttpResponse:
    return render(request, "prompts/list.html", _list_context(request))


def _form_page(
    request: HttpRequest, *, prompt: SavedPrompt | None, values: dict[str, Any], errors: dict
) -> HttpResponse:
    context = {
        "prompt": prompt,
        "values": values,
        "errors": errors,
        "groups": prompt_groups_shareable(user=request.user),
        **SYNTAX,
    }
    return render(request, "prompts/form.html", context, status=400 if errors else 200)


def _posted(request: HttpRequest) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: request.POST.get(name, "") for name in ("title", "command", "body", "description")
    }
    values["groups"] = [int(g) for g in request.POST.getlist("groups") if g.isdigit()]
    return values


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def prompt_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        values = _posted(request)
        try:
            prompt = prompt_create(user=request.user, **values)
        except PromptInvalid as exc:
            return _form_page(request, prompt=None, values=values, errors=exc.errors)
        messages.success(request, _("Saved /%(command)s.") % {"command": prompt.command})
        return redirect("prompts:list")
    values = {"title": "", "command": "", "body": "", "description": "", "groups": []}
    return _form_page(request, prompt=None, values=values, errors={})


@require_http_methods(["GET", "POST"])
@never_cache
@login_required
def prompt_edit(request: HttpRequest, pk: int) -> HttpResponse:
    prompt = _own(request, pk)
    if request.method == "POST":
        values = _posted(request)
        try:
            prompt = prompt_update(user=request.user, id=pk, **values)
        except PromptInvalid as exc:
            return _form_page(request, prompt=prompt, values=values, errors=exc.errors)
        messages.success(request, _("Saved /%(command)s.") % {"command": prompt.command})
        return redirect("prompts:list")
    values = {name: getattr(prompt, name) for name in ("title", "command", "body", "description")}
    values["groups"] = [group.pk for group in prompt.groups.all()]
    return _form_page(request, prompt=prompt, values=values, errors={})


@require_POST
@login_required
def prompt_delete_page(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        prompt = prompt_get_own(user=request.user, id=pk)
        prompt_delete(user=request.user, id=pk)
    except SavedPrompt.DoesNotExist:
        raise Http404("No such prompt.") from None
    messages.success(request, _("Deleted /%(command)s.") % {"command": prompt.command})
    return redirect("prompts:list")


@require_GET
@never_cache
@login_required
def prompt_export(request: HttpRequest) -> HttpResponse:
    """One's own prompts as a file to download (prompts/transfer.py): a read."""
    response = HttpResponse(
        prompts_export_json(user=request.user), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="prompts.json"'
    return response


@require_POST
@never_cache
@login_required
def prompt_import_page(request: HttpRequest) -> HttpResponse:
    """Import a file; the page shows what became of each entry (all or nothing)."""
    upload = request.FILES.get("file")
    context = _list_context(request)
    if upload is None:
        context["import_error"] = _("Choose a file to import.")
        return render(request, "prompts/list.html", context, status=400)
    raw = upload.read(FILE_MAX_BYTES + 1)
    try:
        report = prompt_import(
            user=request.user, raw=raw, replace=request.POST.get("duplicates") == "replace"
        )
    except ImportRefused as exc:
        context["import_error"] = str(exc)
        return render(request, "prompts/list.html", context, status=400)
    if report.imported:
        created, replaced, skipped = (report.count(o) for o in ("created", "replaced", "skipped"))
        messages.success(
            request,
            ngettext(
                "Imported %(count)d prompt.", "Imported %(count)d prompts.", created + replaced
            )
            % {"count": created + replaced}
            + (
                " "
                + ngettext(
                    "Skipped %(count)d whose command you already have.",
                    "Skipped %(count)d whose commands you already have.",
                    skipped,
                )
                % {"count": skipped}
                if skipped
                else ""
            ),
        )
        # The list now holds the imported prompts; the report says which were skipped.
        context = _list_context(request)
    context["import_report"] = report
    return render(request, "prompts/list.html", context, status=200 if report.imported else 400)
