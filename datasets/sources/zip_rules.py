"""What a zip archive must pass before any entry is inflated, judged from its central
directory alone: entry count, total uncompressed size, compression ratio, names that climb
out (``../``, absolute paths, drive letters), symbolic links and duplicate names. Uploaded
archives (archives.py) and .docx files (formats.py, a .docx is a zip) both pass through it.
"""

from __future__ import annotations

import re
import stat
import zipfile

from django.conf import settings

from datasets.sources.base import FormatError

# Entries this small cannot be a bomb whatever their ratio (a page of spaces compresses
# 200:1); the count and total limits bound how many of them there can be.
_RATIO_FLOOR = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


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
