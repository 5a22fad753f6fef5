"""Writes for attachments: an upload (a document's text extracted, an image re-encoded), the
removal of an unsent one, binding them to the message that sends them, and their files.

What a file is comes from its bytes, never from its name or the browser's content type: the
first bytes say whether it is an image (then Pillow draws it anew, chat/services/
attachment_images.py); anything else must be a document format aiportal reads, by its
extension, whose text is extracted at once with the datasets' readers. A refused or failed
upload leaves nothing behind: the files are written only once everything about them is known,
and removed again if their row cannot be saved.

Files live under ``AIPORTAL_ATTACHMENTS_DIR/<owner id>/`` with generated names. A row's
files are unlinked after the transaction that deletes it commits, however it is deleted
(this module's services, or the cascade of a conversation's or an account's deletion): a
``post_delete`` receiver, connected in ChatConfig.ready.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.legal_hold import held_user_ids
from accounts.models import User
from chat.models import Attachment, Conversation, Message
from chat.services.attachment_images import ImageRefused, image_format_sniff, image_reencode
from datasets.sources.base import FormatError, SourceError
from datasets.sources.formats import DOCX, EXTENSIONS, ZIP, extract
from datasets.sources.uploads import upload_name_clean

# Source code and other plain text the datasets do not list: read as text/plain.
CODE_EXTENSIONS = frozenset(
    {
        ".py", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".c", ".h", ".cc",
        ".cpp", ".hpp", ".cs", ".go", ".rs", ".rb", ".php", ".swift", ".scala", ".sh",
        ".bash", ".sql", ".r", ".lua", ".pl", ".css", ".scss", ".yaml", ".yml", ".toml",
        ".ini", ".cfg", ".xml", ".tex", ".log", ".rst", ".diff", ".patch",
    }
)  # fmt: skip
# Names that promise an image: refused unless the bytes are one aiportal keeps (an SVG is
# a document that runs scripts, never an image here).
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".svgz", ".bmp", ".tif", ".tiff", ".ico"}
)
# Documents that must start like one: a PDF or a .docx that does not is refused at the door.
_MAGIC = {"application/pdf": b"%PDF-", DOCX: b"PK\x03\x04"}
# The last ones refused after this long unsent were left in a composer nobody sent.
UNSENT_KEPT = timedelta(days=1)


class AttachmentRefused(Exception):
    """An upload aiportal does not keep. ``code``: too_big, too_many, unsupported,
    unreadable; the message is for the person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def attachments_dir(*, owner_id: int) -> Path:
    return Path(settings.AIPORTAL_ATTACHMENTS_DIR) / str(owner_id)


def document_type_for(name: str) -> str | None:
    """The content type a document of this name is read as; None if aiportal reads none."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in CODE_EXTENSIONS:
        return "text/plain"
    content_type = EXTENSIONS.get(suffix)
    return None if content_type == ZIP else content_type


def _read_capped(chunks: Iterable[bytes], *, name: str) -> bytes:
    limit = settings.AIPORTAL_ATTACHMENT_MAX_BYTES
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise AttachmentRefused(
                "too_big",
                _("%(name)s is larger than the limit of %(limit)s MB.")
                % {"name": name, "limit": round(limit / 2**20, 1)},
            )
    return bytes(data)


def _write(directory: Path, suffix: str, data: bytes) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    stored = f"{secrets.token_hex(16)}{suffix}"
    fd = os.open(directory / stored, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except BaseException:
        (directory / stored).unlink(missing_ok=True)
        raise
    return stored


def _unlink(directory: Path, names: list[str]) -> None:
    for name in names:
        if name:
            (directory / name).unlink(missing_ok=True)


def _document(name: str, data: bytes) -> dict[str, Any]:
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        raise AttachmentRefused(
            "unsupported",
            _("%(name)s is not an image aiportal accepts (PNG, JPEG, WebP or GIF).")
            % {"name": name},
        )
    content_type = document_type_for(name)
    if content_type is None:
        raise AttachmentRefused(
            "unsupported",
            _("%(name)s: aiportal reads images, PDF, Word (.docx), text, Markdown, CSV, JSON, "
              "HTML and source code files.") % {"name": name},
        )  # fmt: skip
    magic = _MAGIC.get(content_type)
    if magic and not data.startswith(magic):
        raise AttachmentRefused(
            "unreadable", _("%(name)s does not look like a %(suffix)s file.") % {
                "name": name, "suffix": suffix
            }
        )  # fmt: skip
    try:
        extracted = extract(data, content_type=content_type, name=name)
    except FormatError as exc:
        raise AttachmentRefused(
            "unreadable", _("%(name)s could not be read: %(why)s") % {"name": name, "why": exc}
        ) from None
    return {
        "kind": Attachment.Kind.DOCUMENT,
        "media_type": content_type,
        "text": extracted.text,
        "files": [(suffix, data)],
    }


def _image(name: str, data: bytes) -> dict[str, Any]:
    try:
        image = image_reencode(data)
    except ImageRefused as exc:
        raise AttachmentRefused(
            "unsupported", _("%(name)s was refused: %(why)s") % {"name": name, "why": exc}
        ) from None
    suffix = ".png" if image.media_type == "image/png" else ".jpg"
    return {
        "kind": Attachment.Kind.IMAGE,
        "media_type": image.media_type,
        "width": image.width,
        "height": image.height,
        "files": [(suffix, image.data), (suffix, image.thumb)],
    }


def attachment_upload(*, user: User, name: str, chunks: Iterable[bytes]) -> Attachment:
    """Keep one file the person attached, unsent until a message takes it. Raises
    AttachmentRefused (nothing stored) for a file too big, one too many waiting, or a file
    aiportal does not read."""
    try:
        clean = upload_name_clean(name)
    except SourceError:
        raise AttachmentRefused("unsupported", _("That file has no usable name.")) from None
    limit = settings.AIPORTAL_ATTACHMENTS_PER_MESSAGE
    if Attachment.objects.filter(owner=user, message__isnull=True).count() >= limit:
        raise AttachmentRefused(
            "too_many",
            _("A message may carry at most %(limit)s attachments.") % {"limit": limit},
        )
    data = _read_capped(chunks, name=clean)
    if not data:
        raise AttachmentRefused("unreadable", _("%(name)s is empty.") % {"name": clean})
    kept = _image(clean, data) if image_format_sniff(data[:16]) else _document(clean, data)
    files = kept.pop("files")
    directory = attachments_dir(owner_id=user.pk)
    written: list[str] = []
    try:
        for suffix, content in files:
            written.append(_write(directory, suffix, content))
        return Attachment.objects.create(
            owner=user,
            name=clean,
            size=len(files[0][1]),
            sha256=hashlib.sha256(files[0][1]).hexdigest(),
            stored=written[0],
            thumb_stored=written[1] if len(written) > 1 else "",
            **kept,
        )
    except BaseException:
        _unlink(directory, written)
        raise


def attachment_delete_unsent(*, user: User, id: int) -> None:
    """Remove one of the user's attachments not sent yet (the chip's ✕). Raises
    ``Attachment.DoesNotExist`` for a sent one, another user's, or an unknown id alike."""
    deleted, _rows = Attachment.objects.filter(owner=user, message__isnull=True, pk=id).delete()
    if not deleted:
        raise Attachment.DoesNotExist("no such unsent attachment")


@transaction.atomic
def attachments_bind(
    *, user: User, ids: list[int], conversation: Conversation, message: Message
) -> list[Attachment]:
    """Give the user's unsent attachments ``ids`` to ``message`` (inside the transaction
    that saves it). Raises ``Attachment.DoesNotExist`` if any is not the user's or was
    already sent: the caller's transaction then keeps nothing."""
    wanted = list(dict.fromkeys(ids))
    # Locked: two tabs sending the same attachment, one of them gets it.
    rows = list(
        Attachment.objects.select_for_update().filter(
            owner=user, message__isnull=True, pk__in=wanted
        )
    )
    if len(rows) != len(wanted):
        raise Attachment.DoesNotExist("an attachment is not the user's, or was already sent")
    Attachment.objects.filter(pk__in=wanted).update(conversation=conversation, message=message)
    order = {pk: index for index, pk in enumerate(wanted)}
    rows.sort(key=lambda row: order[row.pk])
    for row in rows:
        row.conversation, row.message = conversation, message
    return rows


def attachment_purge_unsent(*, older_than: timedelta = UNSENT_KEPT) -> int:
    """Delete attachments uploaded but never sent, older than ``older_than``: a composer
    closed without sending. Called by the chat's purge task (chat/tasks.py). Those of a
    person under a legal hold stay until it is released (accounts/legal_hold.py)."""
    _deleted, per_model = (
        Attachment.objects.filter(message__isnull=True, created_at__lt=timezone.now() - older_than)
        .exclude(owner_id__in=held_user_ids())
        .delete()
    )
    return per_model.get(Attachment._meta.label, 0)


def attachment_files_unlink(sender: Any, instance: Attachment, **kwargs: Any) -> None:
    """``post_delete``: the row's files go once the deletion commits (not before: a rollback
    would leave a row without its file)."""
    directory = attachments_dir(owner_id=instance.owner_id)
    names = [instance.stored, instance.thumb_stored]
    transaction.on_commit(partial(_unlink, directory, names), robust=True)
