"""Text that the database cannot store, refused at every door with one validator.

PostgreSQL's text columns refuse the NUL character (``\\x00``), and no UTF-8 encoder takes a
lone UTF-16 surrogate (``"\\ud800"`` in JSON): either one, reaching a query (a search, a
lookup by email, a saved title), is a database error and a 500. They arrive percent-encoded
in query strings and forms (``%00``), escaped in JSON bodies and websocket frames. Nothing a
person means to write holds them, so they are refused with a 400 (or the socket's
``bad_request`` frame) where input is read:

- query strings, form fields and JSON bodies of every page, allauth's and the admin's
  included: ``UnstorableTextMiddleware``; the JSON views read their body with ``json_body``,
  which checks again (a view called some other way is still covered);
- ``/v1`` (its own handler, without the site's middleware): its body parser;
- websocket frames: the chat consumer's frame parser (``data_refusal``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import sync_and_async_middleware

from common.body_limits import upload_path

# How deep ``data_refusal`` follows nested JSON; deeper is refused (json.loads stops far
# later, at Python's recursion limit).
MAX_DEPTH = 64
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def text_refusal(value: str) -> str | None:
    """Why ``value`` cannot be stored, in words for a person; None when it can."""
    if "\x00" in value:
        return "Text may not contain the NUL character."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Text must be valid Unicode (no lone surrogate characters)."
    return None


def data_refusal(data: Any, *, where: str = "", depth: int = 0) -> str | None:
    """The first string (or key) in decoded JSON that cannot be stored, as
    ``"<where>: <why>"``; None when all can."""
    if depth > MAX_DEPTH:
        return f"{where or 'the data'}: nested too deeply."
    if isinstance(data, str):
        why = text_refusal(data)
        return f"{where}: {why}" if why and where else why
    if isinstance(data, dict):
        for key, value in data.items():
            field = f"{where}.{key}" if where else str(key)
            why = text_refusal(key) if isinstance(key, str) else None
            if why:
                return f"a field name: {why}"
            why = data_refusal(value, where=field, depth=depth + 1)
            if why:
                return why
    if isinstance(data, list):
        for index, value in enumerate(data):
            why = data_refusal(value, where=f"{where}[{index}]", depth=depth + 1)
            if why:
                return why
    return None


class BadBody(ValueError):
    """A JSON body that is not an object of storable text; ``str(exc)`` says why."""


def json_body(request: HttpRequest, *, empty_ok: bool = True) -> dict[str, Any]:
    """The request's JSON object, every string in it storable, or ``BadBody``."""
    raw = request.body or (b"{}" if empty_ok else b"")
    try:
        data = json.loads(raw)
    # RecursionError: nested past Python's limit ("[[[[…").
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadBody("The body must be JSON.") from None
    if not isinstance(data, dict):
        raise BadBody("The body must be a JSON object.")
    why = data_refusal(data)
    if why:
        raise BadBody(why)
    return data


def json_input(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For views that read ``json_body``: a ``BadBody`` is a 400 that says why."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadBody as exc:
            return JsonResponse({"code": "bad_request", "detail": str(exc)}, status=400)

    return wrapped


def _request_refusal(request: HttpRequest) -> str | None:
    for name, values in request.GET.lists():
        why = text_refusal(name) or next(filter(None, map(text_refusal, values)), None)
        if why:
            return f"The address's {name!r} parameter: {why}"[:300]
    # Forms: Django's CSRF check parses them before any view anyway.
    # A body Django cannot parse raises here as it would there (a 400). File names are the
    # upload code's to clean (datasets/sources/uploads.py), file contents are not text.
    if request.method != "POST":
        return None
    if request.content_type == "application/json":
        # Every JSON view, the ones that ignore their body included; a body that is not JSON
        # is the view's to refuse (json_body says so in its words).
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError):
            return None
        return data_refusal(data)
    if request.content_type not in FORM_TYPES:
        return None
    # An upload page's body is its view's to parse: the view installs its own upload handler
    # (datasets/upload_handler.py stops writing at the quota), which parsing it here first
    # would pre-empt. The view asks form_refusal once the body is parsed.
    if upload_path(request.path_info):
        return None
    return form_refusal(request)


def form_refusal(request: HttpRequest) -> str | None:
    """The first field of a parsed form whose name or value cannot be stored, as a
    sentence; None when all can."""
    for name, values in request.POST.lists():
        why = text_refusal(name) or next(filter(None, map(text_refusal, values)), None)
        if why:
            return f"The form's {name!r} field: {why}"[:300]
    return None


def refused_response(request: HttpRequest, why: str) -> HttpResponse:
    if "/api/" in request.path or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"code": "bad_request", "detail": why}, status=400)
    return render(request, "bad_input.html", {"detail": why}, status=400)


# Django ships no types: its decorator leaves the middleware untyped to callers.
@sync_and_async_middleware  # type: ignore[untyped-decorator]
def UnstorableTextMiddleware(
    get_response: Callable[[HttpRequest], Any],
) -> Callable[[HttpRequest], Any]:
    """A query string or form field with text the database cannot store: a 400, before any
    view (or allauth, or the admin) puts it in a query."""

    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponse:
            # A query string is checked on the loop; a body is parsed in a thread (it may be
            # an upload spooled to disk).
            if request.method == "POST":
                why = await sync_to_async(_request_refusal, thread_sensitive=False)(request)
            else:
                why = _request_refusal(request) if request.GET else None
            if why:
                return refused_response(request, why)
            return await get_response(request)

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponse:
        why = _request_refusal(request)
        if why:
            return refused_response(request, why)
        return get_response(request)

    return middleware
