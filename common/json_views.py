"""Helpers for views that answer JSON to the page's scripts (the chat's sidebar, the datasets'
picker and pages)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse


def json_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A session is required, and its lack is a JSON 401, not a redirect to the sign-in
    page: the caller is a script, which tells the person to sign in again."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse(
                {"code": "unauthenticated", "detail": "Sign in again to continue."}, status=401
            )
        return view(request, *args, **kwargs)

    return wrapped
