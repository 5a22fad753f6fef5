"""Uploaded files: stored under generated names with their limits, read back as documents.

The original name is only ever a label (the document's key and title): the file on disk is
``<32 hex digits>.<extension>``, so no name a person sends can choose or climb out of the
place it is written to.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath

from django.conf import settings

from datasets.sources.archives import file_documents
from datasets.sources.base import DocumentError, SourceDocument, SourceError
from datasets.sources.formats import DOCX, EXTENSIONS, ZIP, content_type_for

STORED_NAME = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]{1,10}$")

# A PDF, a .docx or a zip that does not start like one is refused at the door, with a message
# that says so, rather than failing later inside a refill.
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    DOCX: (b"PK\x03\x04",),
    ZIP: (b"PK\x03\x04", b"PK\x05\x06"),
}


def upload_name_clean(name: str) -> str:
    """The file name a person meant, without any folder a browser sent ("C:\\fakepath\\x");
    SourceError if nothing usable is left."""
    base = re.split(r"[/\\]", str(name or ""))[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if base in {"", ".", ".."}:
        raise SourceError(f"{name!r} is not a usable file name", retryable=False)
    return base[:255]


def _refuse(message: str) -> SourceError:
    return SourceError(message, retryable=False)


def upload_limit_for(name: str) -> int:
    """The most bytes an uploaded file of this name may have. Only an archive may be bigger
    than one document: it holds many."""
    try:
        content_type = content_type_for(upload_name_clean(name))
    except SourceError:
        content_type = None
    limit = settings.AIPORTAL_UPLOAD_MAX_BYTES
    if content_type != ZIP:
        limit = min(limit, settings.AIPORTAL_DOCUMENT_MAX_BYTES)
    return limit


def upload_store(
    *,
    files_dir: Path,
    name: str,
    chunks: Iterable[bytes],
    room: int | None = None,
    full: str = "",
) -> str:
    """Write one uploaded file under a generated name in ``files_dir`` and return that name.
    Refuses (SourceError, not retryable) a type aiportal does not read, a file over the
    limit, or one over ``room`` bytes (what the quotas leave; ``full`` says so to the
    person); nothing is left behind when it refuses."""
    clean = upload_name_clean(name)
    content_type = content_type_for(clean)
    if content_type is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise _refuse(f"{clean}: aiportal reads only these kinds of file: {known}")
    limit = upload_limit_for(clean)
    files_dir.mkdir(parents=True, exist_ok=True)
    stored = f"{secrets.token_hex(16)}{PurePosixPath(clean).suffix.lower()}"
    partial = files_dir / f"{stored}.part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        size = 0
        head = b""
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _refuse(f"{clean} is larger than the limit of {limit} bytes")
                if room is not None and size > room:
                    raise _refuse(f"{clean} does not fit: {full}")
                if len(head) < 8:
                    head += chunk[:8]
                out.write(chunk)
        magic = _MAGIC.get(content_type)
        if magic and not head.startswith(magic):
            raise _refuse(f"{clean} does not look like a {PurePosixPath(clean).suffix} file")
        os.replace(partial, files_dir / stored)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return stored


def upload_documents(
    *, files: list[dict], files_dir: Path, known: Callable[[str, str], bool]
) -> Iterator[SourceDocument | DocumentError]:
    """One document per uploaded file (one per entry for an archive), keyed ``upload:<name>``."""
    for item in files:
        name = item["name"]
        key = f"upload:{name}"
        stored = item["stored"]
        content_type = content_type_for(name)
        if not STORED_NAME.match(stored) or content_type is None:
            yield DocumentError(key=key, message=f"{name}: not a stored upload aiportal made")
            continue
        try:
            fd = os.open(files_dir / stored, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            yield DocumentError(key=key, message=f"{name}: the stored file is missing")
            continue
        with os.fdopen(fd, "rb") as stream:
            yield from file_documents(
                key=key, name=name, stream=stream, content_type=content_type, known=known
            )
