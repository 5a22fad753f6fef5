"""Attachments over HTTP: the composer's upload and removal, and the files, served from our
origin to their owner and to whoever holds a live share link of their conversation.

Every attachment is fetched through a selector that takes the user (or the link's token):
another person's id is a 404 like an unknown one. A file is served as untrusted bytes: its
name only ever in a ``Content-Disposition`` Django builds, ``nosniff``, and a CSP that lets
nothing in it run, should a browser open it. Images (re-encoded at upload) are shown inline;
documents are always downloaded, never rendered.
"""

from __future__ import annotations

import re

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat.models import Attachment
from chat.selectors.attachment_access import attachment_get, attachment_shared_get
from chat.selectors.attachments import attachment_path, attachment_payload
from chat.services.attachments import (
    AttachmentRefused,
    attachment_delete_unsent,
    attachment_upload,
)
from common.json_views import json_login_required

_UNSAFE_IN_FILENAME = re.compile(r'["\\;\x00-\x1f\x7f]')


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _not_found() -> JsonResponse:
    return _error(404, "not_found", _("No such attachment."))


@require_POST
@never_cache
@json_login_required
def upload(request: HttpRequest) -> JsonResponse:
    """One file, the form field ``file``: its payload (201), or why it was refused (400;
    413 for a file over the limit), nothing kept then."""
    uploaded = request.FILES.get("file")
    if uploaded is None or len(request.FILES) != 1:
        return _error(400, "bad_request", _("Send one file, in the field “file”."))
    try:
        attachment = attachment_upload(
            user=request.user, name=uploaded.name or "", chunks=uploaded.chunks()
        )
    except AttachmentRefused as exc:
        return _error(413 if exc.code == "too_big" else 400, exc.code, str(exc))
    finally:
        uploaded.close()  # a spooled temporary file goes now, not at the end of the request
    return JsonResponse(attachment_payload(attachment), status=201)


def _serve(attachment: Attachment, *, thumb: bool) -> HttpResponse:
    path = attachment_path(attachment, thumb=thumb)
    try:
        stream = path.open("rb")
    except OSError:
        return _not_found()
    image = attachment.kind == Attachment.Kind.IMAGE
    # A document is downloaded as what it is; any text (HTML too) as plain text.
    media_type = attachment.media_type
    if media_type.startswith("text/"):
        media_type = "text/plain; charset=utf-8"
    # Quotes, backslashes and semicolons out of the name too: escaped, they are correct, but
    # not every client parses a quoted-string right, and a name is only a label.
    filename = _UNSAFE_IN_FILENAME.sub("_", attachment.name)
    response = FileResponse(
        stream, as_attachment=not image, filename=filename, content_type=media_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Set here, so django-csp leaves it: nothing in the file may run or load anything.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_http_methods(["GET", "HEAD", "DELETE"])
@never_cache
@json_login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the file, to its owner. DELETE: remove it while it is still unsent (204)."""
    if request.method == "DELETE":
        try:
            attachment_delete_unsent(user=request.user, id=pk)
        except Attachment.DoesNotExist:
            return _not_found()
        return HttpResponse(status=204)
    try:
        attachment = attachment_get(user=request.user, id=pk)
    except Attachment.DoesNotExist:
        return _not_found()
    return _serve(attachment, thumb=False)


@require_GET
@json_login_required
def thumb(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        attachment = attachment_get(user=request.user, id=pk)
    except Attachment.DoesNotExist:
        return _not_found()
    return _serve(attachment, thumb=True)


def _shared(token: str, pk: int, *, thumb: bool) -> HttpResponse:
    try:
        attachment = attachment_shared_get(token=token, id=pk)
    except Attachment.DoesNotExist:
        return _not_found()
    response = _serve(attachment, thumb=thumb)
    # As the share page: no shared caches (a revoked link must stop working), no Referer.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def shared(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    """The file, to anyone holding a live share link of its conversation."""
    return _shared(token, pk, thumb=False)


@require_GET
def shared_thumb(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    return _shared(token, pk, thumb=True)
