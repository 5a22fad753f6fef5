"""The prompt library's JSON endpoints (docs/chat.md, "Prompt library"): the composer's
search, and create, update, delete and the live preview for scripts.

Thin: parse, call one selector or service, answer. A session is required (a JSON 401
otherwise); POSTs pass Django's CSRF check (the page sends ``X-CSRFToken``); a prompt is
fetched through the person's selectors, so another person's id, or one shared with them
that they may only read, is a 404 for every change, like an unknown id. Titles and texts are
sent as JSON and the page renders them as text, never as HTML.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from common.json_views import json_login_required
from common.text import json_body, json_input
from prompts.models import SavedPrompt
from prompts.selectors import QUERY_MAX, prompt_get_own, prompt_list_visible, prompt_payload
from prompts.services import PromptInvalid, prompt_create, prompt_delete, prompt_update
from prompts.template import template_parse
from prompts.validation import command_clean, prompt_fields_check

LIST_MAX = 50


def _error(status: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, **extra}, status=status)


def _not_found() -> JsonResponse:
    return _error(404, "not_found", _("No such prompt."))


def _invalid(exc: PromptInvalid) -> JsonResponse:
    return _error(400, "invalid", str(exc), errors=exc.errors)


def _fields(body: dict[str, Any], *, base: SavedPrompt | None = None) -> dict[str, Any]:
    """The prompt's fields from a JSON body; on an update, a field left out keeps its value.
    A field of the wrong type is a ``PromptInvalid`` naming it."""
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("title", "command", "body", "description"):
        value = body.get(name, getattr(base, name) if base else "")
        if not isinstance(value, str):
            errors[name] = _("Send this field as text.")
        fields[name] = value
    groups = body.get("groups", sorted(g.pk for g in base.groups.all()) if base else [])
    if not isinstance(groups, list) or not all(
        isinstance(g, int) and not isinstance(g, bool) for g in groups
    ):
        errors["groups"] = _("Send groups as a list of group ids.")
    fields["groups"] = groups
    if errors:
        raise PromptInvalid(errors)
    return fields


@require_GET
@never_cache
@json_login_required
def prompt_list(request: HttpRequest) -> JsonResponse:
    """``?q=`` searches command, title and text; the best matches first (prompt_list_visible)."""
    query = request.GET.get("q", "")
    if len(query) > QUERY_MAX:
        return _error(
            400, "bad_request", _("Search for at most %(count)d characters.") % {"count": QUERY_MAX}
        )
    prompts = prompt_list_visible(user=request.user, query=query, limit=LIST_MAX)
    return JsonResponse(
        {"prompts": [prompt_payload(p, user=request.user) for p in prompts], "q": query}
    )


@require_POST
@json_login_required
@json_input
def prompt_create_view(request: HttpRequest) -> JsonResponse:
    try:
        prompt = prompt_create(user=request.user, **_fields(json_body(request)))
    except PromptInvalid as exc:
        return _invalid(exc)
    return JsonResponse({"prompt": prompt_payload(prompt, user=request.user)}, status=201)


@require_POST
@json_login_required
@json_input
def prompt_update_view(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        prompt = prompt_get_own(user=request.user, id=pk)
        fields = _fields(json_body(request), base=prompt)
        prompt = prompt_update(user=request.user, id=pk, **fields)
    except SavedPrompt.DoesNotExist:
        return _not_found()
    except PromptInvalid as exc:
        return _invalid(exc)
    return JsonResponse({"prompt": prompt_payload(prompt, user=request.user)})


@require_POST
@json_login_required
def prompt_delete_view(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        prompt_delete(user=request.user, id=pk)
    except SavedPrompt.DoesNotExist:
        return _not_found()
    return JsonResponse({"deleted": pk})


@require_POST
@json_login_required
@json_input
def prompt_preview(request: HttpRequest) -> JsonResponse:
    """The variables the text holds and what is wrong with the fields, for the form's live
    preview: a read, nothing is saved (a POST because a text may be long)."""
    body = json_body(request)
    fields = {name: body.get(name, "") for name in ("title", "command", "body", "description")}
    if not all(isinstance(value, str) for value in fields.values()):
        return _error(400, "bad_request", _("Send the fields as text."))
    errors = prompt_fields_check(**{**fields, "command": command_clean(fields["command"])})
    return JsonResponse({**template_parse(fields["body"]).as_json(), "errors": errors})
