"""Attachments as the page and the socket describe them, a message's, and where their bytes
are. Who may read one: chat/selectors/attachment_access.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.urls import reverse

from chat.models import Attachment, Message


def attachment_path(attachment: Attachment, *, thumb: bool = False) -> Path:
    """Where its bytes are (the thumbnail's: an image's own when it has none)."""
    name = (attachment.thumb_stored or attachment.stored) if thumb else attachment.stored
    return Path(settings.AIPORTAL_ATTACHMENTS_DIR) / str(attachment.owner_id) / name


def attachment_payload(attachment: Attachment, *, share_token: str | None = None) -> dict[str, Any]:
    """An attachment as the page gets it, with the URLs that serve it to this reader (the
    owner's, or a share link's)."""
    if share_token is None:
        url = reverse("chat:attachment", args=[attachment.pk])
        thumb = reverse("chat:attachment_thumb", args=[attachment.pk])
    else:
        url = reverse("chat:shared_attachment", args=[share_token, attachment.pk])
        thumb = reverse("chat:shared_attachment_thumb", args=[share_token, attachment.pk])
    image = attachment.kind == Attachment.Kind.IMAGE
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "kind": attachment.kind,
        "size": attachment.size,
        "media_type": attachment.media_type,
        "width": attachment.width,
        "height": attachment.height,
        "url": url,
        "thumbnail_url": thumb if image else None,
    }


def message_attachments(message: Message) -> list[Attachment]:
    """The message's attachments when they were fetched with it (``prefetch_related``);
    none otherwise: a payload never costs a query per message, nor one from async code."""
    cache = getattr(message, "_prefetched_objects_cache", {})
    return list(cache["attachments"]) if "attachments" in cache else []
