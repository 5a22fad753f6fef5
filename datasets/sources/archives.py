"""Zip archives of documents, read without trusting a byte of them.

Everything that can be judged from the central directory is judged there, before any entry is
inflated: entry count, total uncompressed size, compression ratio, names that climb out
(``../``, absolute paths, drive letters), symbolic links and duplicate names. A header can
lie about sizes, so the limits are enforced again on the bytes actually inflated. Archives
inside archives are reported, not expanded: one level is what people upload, and every
further level would multiply what the limits above allow.
"""

from __future__ import annotations

import re
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import BinaryIO

from django.conf import settings

from datasets.sources.base import DocumentError, SourceDocument
from datasets.sources.formats import ZIP, FormatError, content_type_for, document_build
from datasets.sources.zip_rules import zip_check

_JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$)")


# What zipfile raises on a damaged or exotic entry (zlib on a corrupt stream,
# NotImplementedError on an unsupported compression method).
_CORRUPT = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError)


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """The entry's bytes, never more than it declared nor than what is left of the budget."""
    limit = min(info.file_size, budget)
    parts = []
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(min(1024 * 1024, limit - size + 1)):
            size += len(chunk)
            if size > limit:
                raise FormatError("it expands past the size its header declares")
            parts.append(chunk)
    return b"".join(parts)


def zip_documents(
    *,
    key: str,
    name: str,
    source: BinaryIO,
    known: Callable[[str, str], bool],
) -> Iterator[SourceDocument | DocumentError]:
    """One document per entry, keyed ``<key>!<entry path>``; a refused archive is one
    DocumentError for ``key`` and nothing is extracted from it."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        yield DocumentError(key=key, message=f"{name}: it is not a valid zip archive")
        return
    with archive:
        try:
            entries = zip_check(archive)
        except FormatError as exc:
            yield DocumentError(key=key, message=f"{name}: {exc}")
            return
        budget = settings.AIPORTAL_ZIP_MAX_TOTAL_BYTES
        # Each entry has its own deadline (formats.py); the archive has one for them all, or
        # a thousand entries that each stop just short of theirs would hold a worker for days.
        seconds = settings.AIPORTAL_ARCHIVE_EXTRACT_TIMEOUT
        deadline = time.monotonic() + seconds
        for info in entries:
            path = info.filename.replace("\\", "/").strip("/")
            if _JUNK.search(path):
                continue
            entry_key = f"{key}!{path}"
            shown = f"{name}!{path}"
            if time.monotonic() > deadline:
                yield DocumentError(
                    key=entry_key,
                    message=f"{shown}: not read, the archive took longer than {seconds} seconds "
                    "(AIPORTAL_ARCHIVE_EXTRACT_TIMEOUT_S)",
                )
                continue
            content_type = content_type_for(path)
            if content_type is None:
                yield DocumentError(key=entry_key, message=f"{shown}: not a format aiportal reads")
                continue
            if content_type == ZIP:
                yield DocumentError(
                    key=entry_key, message=f"{shown}: archives inside archives are not expanded"
                )
                continue
            if info.flag_bits & 0x1:
                yield DocumentError(key=entry_key, message=f"{shown}: it is encrypted")
                continue
            if info.file_size > settings.AIPORTAL_DOCUMENT_MAX_BYTES:
                yield DocumentError(
                    key=entry_key,
                    message=f"{shown}: {info.file_size} bytes is over the limit of "
                    f"{settings.AIPORTAL_DOCUMENT_MAX_BYTES}",
                )
                continue
            try:
                data = _read_entry(archive, info, budget)
            except FormatError as exc:
                yield DocumentError(key=entry_key, message=f"{shown}: {exc}")
                continue
            except _CORRUPT as exc:
                yield DocumentError(key=entry_key, message=f"{shown}: it is corrupt ({exc})")
                continue
            budget -= len(data)
            yield document_build(
                key=entry_key,
                name=PurePosixPath(path).name,
                data=data,
                content_type=content_type,
                known=known,
            )


def file_documents(
    *,
    key: str,
    name: str,
    stream: BinaryIO,
    content_type: str,
    known: Callable[[str, str], bool],
) -> Iterator[SourceDocument | DocumentError]:
    """The documents of one opened file (an upload, a file in a server folder): a zip's
    entries, or the file itself read up to ``AIPORTAL_DOCUMENT_MAX_BYTES``."""
    if content_type == ZIP:
        yield from zip_documents(key=key, name=name, source=stream, known=known)
        return
    limit = settings.AIPORTAL_DOCUMENT_MAX_BYTES
    data = stream.read(limit + 1)
    if len(data) > limit:
        yield DocumentError(key=key, message=f"{name}: over the limit of {limit} bytes")
        return
    yield document_build(
        key=key, name=PurePosixPath(name).name, data=data, content_type=content_type, known=known
    )
