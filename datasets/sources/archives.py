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
import stat
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import BinaryIO

from django.conf import settings

from datasets.sources.base import DocumentError, SourceDocument
from datasets.sources.formats import ZIP, FormatError, content_type_for, document_build

# Entries this small cannot be a bomb whatever their ratio (a page of spaces compresses
# 200:1); the count and total limits bound how many of them there can be.
_RATIO_FLOOR = 64 * 1024
_JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$)")
_DRIVE = re.compile(r"^[A-Za-z]:")


# What zipfile raises on a damaged or exotic entry (zlib on a corrupt stream,
# NotImplementedError on an unsupported compression method).
_CORRUPT = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError)


def _name_refusal(name: str) -> str:
    if "\x00" in name:
        return "a NUL byte"
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path):
        return "an absolute path"
    if any(part == ".." for part in path.split("/")):
        return "a path that climbs out of the archive (..)"
    return ""


def zip_check(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Judge the whole archive from its central directory: its file entries, or FormatError."""
    infos = archive.infolist()
    if len(infos) > settings.AIPORTAL_ZIP_MAX_ENTRIES:
        raise FormatError(
            f"the archive has {len(infos)} entries, more than the limit of "
            f"{settings.AIPORTAL_ZIP_MAX_ENTRIES}"
        )
    total = compressed = 0
    names: set[str] = set()
    files = []
    for info in infos:
        reason = _name_refusal(info.filename)
        if reason:
            raise FormatError(f"the archive entry {info.filename!r} has {reason}")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise FormatError(f"the archive entry {info.filename!r} is a symbolic link")
        normal = info.filename.replace("\\", "/").strip("/")
        if normal in names:
            raise FormatError(f"the archive has two entries named {normal!r}")
        names.add(normal)
        if info.is_dir():
            continue
        if info.file_size > _RATIO_FLOOR and (
            info.compress_size == 0
            or info.file_size / info.compress_size > settings.AIPORTAL_ZIP_MAX_RATIO
        ):
            raise FormatError(
                f"the archive entry {info.filename!r} expands more than "
                f"{settings.AIPORTAL_ZIP_MAX_RATIO} times (a zip bomb?)"
            )
        total += info.file_size
        compressed += info.compress_size
        files.append(info)
    if total > settings.AIPORTAL_ZIP_MAX_TOTAL_BYTES:
        raise FormatError(
            f"the archive expands to {total} bytes, more than the limit of "
            f"{settings.AIPORTAL_ZIP_MAX_TOTAL_BYTES}"
        )
    if total > _RATIO_FLOOR and total / max(compressed, 1) > settings.AIPORTAL_ZIP_MAX_RATIO:
        raise FormatError(
            f"the archive expands more than {settings.AIPORTAL_ZIP_MAX_RATIO} times (a zip bomb?)"
        )
    return files


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
