"""The JSON endpoints the chat page uses: the picker's list of assistants and one assistant
(the header of a conversation that started from it).

Thin: every read goes through a selector that takes the user, so an assistant they may not
use answers 404 exactly like an unknown id. Names and descriptions are people's text: the
page sets them as text, never as HTML."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from assistants.models import Assistant
from assistants.selectors import (
    USE,
    assistant_get_usable,
    assistant_level_for,
    assistant_levels_for,
    assistant_list_usable,
    assistant_payload,
)
from common.json_views import json_login_required


@require_GET
@never_cache
@json_login_required
def assistant_list_api(request: HttpRequest) -> JsonResponse:
    """The assistants the person may start a chat from now."""
    rows = list(assistant_list_usable(user=request.user))
    levels = assistant_levels_for(user=request.user, assistants=rows)
    return JsonResponse(
        {"assistants": [assistant_payload(a, level=levels.get(a.pk, USE)) for a in rows]}
    )


@require_GET
@never_cache
@json_login_required
def assistant_detail_api(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        assistant = assistant_get_usable(user=request.user, id=pk)
    except Assistant.DoesNotExist:
        return JsonResponse({"code": "not_found", "detail": "No such assistant."}, status=404)
    level = assistant_level_for(user=request.user, assistant=assistant) or USE
    return JsonResponse(assistant_payload(assistant, level=level))
