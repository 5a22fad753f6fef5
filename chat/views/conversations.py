"""The sidebar's JSON endpoints, exports and the public share page.

Thin: parse, call one selector or service, answer. Every endpoint but the share page needs a
session (the JSON ones answer 401, not a redirect: their caller is a script); POSTs go
through Django's CSRF check (the page sends the token in ``X-CSRFToken``); every
conversation is fetched through the user's selectors, so another user's id is a 404 like an
unknown one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.audit import request_ip
from chat import export, selectors, services
from chat.models import Conversation
from chat.selectors.attachments import attachment_payload, message_attachments
from chat.services.conversations import UNDO_WINDOW
from common.json_views import json_login_required
from common.text import json_body, json_input

PAGE_SIZE = 50
SEARCH_MAX_CHARS = 200


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _not_found() -> JsonResponse:
    return _error(404, "not_found", "No such conversation.")


def _body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object sent (common/text.py: storable text only, else a 400)."""
    return json_body(request)


def cursor_encode(cursor: tuple[datetime, int] | None) -> str | None:
    return None if cursor is None else f"{cursor[0].isoformat()}~{cursor[1]}"


def cursor_decode(text: str) -> tuple[datetime, int]:
    at, _sep, pk = text.partition("~")
    return datetime.fromisoformat(at), int(pk)


def sidebar_item(conversation: Conversation) -> dict[str, Any]:
    return selectors.conversation_payload(conversation)


def sidebar_context(user: Any, *, current: Conversation | None) -> dict[str, Any]:
    """What the chat page's sidebar renders at once: the pinned conversations and the first
    page of the others; sidebar.js loads the rest through ``conversation_list``. A read: the
    conversations deleted past their undo window are purged by the next delete and by the
    beat (chat/tasks.py), never by a GET."""
    page, after = selectors.conversation_page(user=user, limit=PAGE_SIZE)
    shared = bool(current and selectors.conversation_share_active(conversation=current))
    return {
        "conversations": [*selectors.conversation_list_pinned(user=user), *page],
        "sidebar_data": {"next": cursor_encode(after), "shared": shared},
    }


@require_GET
@never_cache
@json_login_required
def conversation_list(request: HttpRequest) -> JsonResponse:
    """``?cursor=`` pages through the unpinned conversations (the first page, without a
    cursor, also carries the pinned ones); ``?q=`` searches instead."""
    query = request.GET.get("q")
    if query is not None:
        if len(query) > SEARCH_MAX_CHARS:
            return _error(
                400,
                "bad_request",
                _("Search for at most %(count)s characters.") % {"count": SEARCH_MAX_CHARS},
            )
        return JsonResponse(
            {"items": selectors.conversation_search(user=request.user, query=query), "q": query}
        )
    before = None
    if request.GET.get("cursor"):
        try:
            before = cursor_decode(request.GET["cursor"])
        except ValueError:
            return _error(400, "bad_request", "That page cursor is not valid.")
    page, after = selectors.conversation_page(user=request.user, before=before, limit=PAGE_SIZE)
    pinned = [] if before else selectors.conversation_list_pinned(user=request.user)
    return JsonResponse(
        {
            "pinned": [sidebar_item(c) for c in pinned],
            "items": [sidebar_item(c) for c in page],
            "next": cursor_encode(after),
        }
    )


@require_POST
@json_login_required
@json_input
def conversation_rename(request: HttpRequest, pk: int) -> JsonResponse:
    title = _body(request).get("title")
    if not isinstance(title, str):
        return _error(400, "bad_request", "Send the new title as a string.")
    try:
        conversation = services.conversation_rename(user=request.user, id=pk, title=title)
    except services.InvalidTitle as exc:
        return _error(400, "invalid_title", str(exc))
    except Conversation.DoesNotExist:
        return _not_found()
    return JsonResponse({"conversation": sidebar_item(conversation)})


@require_POST
@json_login_required
@json_input
def conversation_pin(request: HttpRequest, pk: int) -> JsonResponse:
    pinned = _body(request).get("pinned")
    if not isinstance(pinned, bool):
        return _error(400, "bad_request", "Send pinned as true or false.")
    try:
        conversation = services.conversation_pin(user=request.user, id=pk, pinned=pinned)
    except Conversation.DoesNotExist:
        return _not_found()
    return JsonResponse({"conversation": sidebar_item(conversation)})


@require_POST
@json_login_required
def conversation_delete(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        services.conversation_delete(user=request.user, id=pk)
    except Conversation.DoesNotExist:
        return _not_found()
    return JsonResponse({"deleted": pk, "undo_seconds": int(UNDO_WINDOW.total_seconds())})


@require_POST
@json_login_required
def conversation_restore(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        conversation = services.conversation_restore(user=request.user, id=pk)
    except Conversation.DoesNotExist:
        return _error(404, "not_found", _("That conversation can no longer be restored."))
    return JsonResponse({"conversation": sidebar_item(conversation)})


@require_POST
@json_login_required
def share_create(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        token = services.conversation_share_create(user=request.user, id=pk, ip=request_ip(request))
    except Conversation.DoesNotExist:
        return _not_found()
    return JsonResponse({"url": request.build_absolute_uri(f"/s/{token}/")})


@require_POST
@json_login_required
def share_revoke(request: HttpRequest, pk: int) -> JsonResponse:
    try:
        revoked = services.conversation_share_revoke(
            user=request.user, id=pk, ip=request_ip(request)
        )
    except Conversation.DoesNotExist:
        return _not_found()
    return JsonResponse({"revoked": revoked})


def _attachment(body: str, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@never_cache
@login_required  # a link the browser follows: signing in again beats a JSON error file
def conversation_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    try:
        conversation = selectors.conversation_get(user=request.user, id=pk)
    except Conversation.DoesNotExist:
        return _not_found()
    if fmt == "md":
        return _attachment(
            export.export_markdown(conversation=conversation),
            content_type="text/markdown; charset=utf-8",
            filename=export.export_filename(conversation, "md"),
        )
    return _attachment(
        export.export_json(conversation=conversation),
        content_type="application/json; charset=utf-8",
        filename=export.export_filename(conversation, "json"),
    )


@require_GET
def shared_conversation(request: HttpRequest, token: str) -> HttpResponse:
    """The read-only page of a share link, for anyone who has it, signed in or not: the
    conversation's title and shown branch, nothing about its owner or anything else."""
    try:
        conversation = selectors.conversation_share_find(token=token)
    except Conversation.DoesNotExist:
        if selectors.share_link_gone(token=token):
            # A link that worked once: say the conversation is gone (410), so whoever was
            # given it knows it is not a typo and not coming back.
            response = render(request, "chat/share_gone.html", status=410)
            response["X-Robots-Tag"] = "noindex, nofollow"
            response["Cache-Control"] = "private, no-store"
            response["Referrer-Policy"] = "no-referrer"
            return response
        raise Http404("No such shared conversation.") from None
    thread = selectors.conversation_thread(conversation=conversation)
    data = {
        "title": conversation.title,
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "status": m.status,
                # Served to the link's holder through the link (chat/views/attachments.py).
                "attachments": [
                    attachment_payload(a, share_token=token) for a in message_attachments(m)
                ],
                # The sources the answer was given, each with its passage: the owner shared
                # the answer with what it rests on (chat/services/retrieval.py keeps it).
                "citations": (m.metrics or {}).get("citations", []),
            }
            for m in thread
            if m.role in {"user", "assistant"}
        ],
    }
    response = render(request, "chat/share.html", {"title": conversation.title, "share_data": data})
    # Not for search engines, not for shared caches (a revoked link must stop working), and
    # no Referer carrying the token to the sites its links lead to.
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
