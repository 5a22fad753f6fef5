"""The JSON endpoints the chat page uses: the picker's list and a citation's passage.

Thin: every read goes through a selector that takes the user, so a dataset or chunk the user
may not query answers 404 exactly like an unknown id. The passage is document text
(untrusted): it is sent as JSON and the page renders it as text, never as HTML.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from common.json_views import json_login_required
from datasets.models import Chunk, Level
from datasets.selectors import chunk_passage_get, dataset_levels_for, dataset_list_at_least


@require_GET
@never_cache
@json_login_required
def picker_datasets(request: HttpRequest) -> JsonResponse:
    """The datasets the user may search in chat now (query level or more)."""
    rows = list(dataset_list_at_least(user=request.user, level=Level.QUERY).order_by("name", "id"))
    levels = dataset_levels_for(user=request.user, datasets=rows)
    return JsonResponse(
        {
            "datasets": [
                {
                    "id": dataset.pk,
                    "name": dataset.name,
                    "level": levels[dataset.pk].label,
                    "regions": sorted(dataset.regions) if dataset.regions is not None else None,
                }
                for dataset in rows
            ]
        }
    )


@require_GET
@never_cache
@json_login_required
def chunk_passage(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        passage = chunk_passage_get(user=request.user, id=pk)
    except Chunk.DoesNotExist:
        return JsonResponse({"code": "not_found", "detail": "No such passage."}, status=404)
    return JsonResponse(passage)
