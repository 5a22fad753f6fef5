"""Where a refill's documents come from. This first version reads plain-text uploads only;
the sources branch replaces it with URLs, sitemaps, server folders and every format.

The refill engine calls ``iter_documents`` and nothing else; the pages call
``source_config_check`` before storing a source and ``upload_store`` for each uploaded file.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from datasets.sources.base import DocumentError, SourceDocument, SourceError

__all__ = [
    "DocumentError",
    "SourceDocument",
    "SourceError",
    "iter_documents",
    "source_config_check",
    "upload_store",
]

UPLOAD_MAX_BYTES = 50 * 1024 * 1024
_TEXT_SUFFIXES = {".txt", ".text", ".md"}
_READ_BLOCK = 1024 * 1024


def upload_store(*, files_dir: Path, name: str, chunks: Iterable[bytes]) -> str:
    """Write one uploaded file under a generated name in ``files_dir`` (never the person's
    name: it may hold ``../`` or clash) and return that name."""
    if Path(name).suffix.lower() not in _TEXT_SUFFIXES:
        raise SourceError(
            f"{name}: only plain-text files (.txt, .md) can be uploaded.", retryable=False
        )
    files_dir.mkdir(parents=True, exist_ok=True)
    stored = secrets.token_hex(16)
    path = files_dir / stored
    size = 0
    try:
        with path.open("xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > UPLOAD_MAX_BYTES:
                    raise SourceError(
                        f"{name} is larger than {UPLOAD_MAX_BYTES // (1024 * 1024)} MB.",
                        retryable=False,
                    )
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return stored


def source_config_check(*, kind: str, config: dict) -> dict:
    if kind != "upload":
        raise ValueError(f"Sources of kind {kind!r} are not available yet.")
    files = config.get("files")
    if not isinstance(files, list):
        raise ValueError("An upload source lists its files.")
    clean = []
    for item in files:
        if not isinstance(item, dict) or not item.get("stored") or not item.get("name"):
            raise ValueError("Each uploaded file needs its stored name and its original name.")
        stored, name = str(item["stored"]), str(item["name"])
        if "/" in stored or "\\" in stored or stored.startswith("."):
            raise ValueError(f"{stored!r} is not a stored file name.")
        clean.append({"stored": stored, "name": name})
    return {"files": clean}


def iter_documents(
    *,
    kind: str,
    config: dict,
    files_dir: Path,
    known: Callable[[str, str], bool],
) -> Iterator[SourceDocument | DocumentError]:
    if kind != "upload":
        raise SourceError(f"Sources of kind {kind!r} are not available yet.", retryable=False)
    for item in source_config_check(kind=kind, config=config)["files"]:
        yield _upload_read(
            files_dir=files_dir, stored=item["stored"], name=item["name"], known=known
        )


def _upload_read(
    *, files_dir: Path, stored: str, name: str, known: Callable[[str, str], bool]
) -> SourceDocument | DocumentError:
    key = f"upload:{name}"
    path = files_dir / stored
    digest = hashlib.sha256()
    size = 0
    try:
        # Hash first without keeping the bytes: a known file is never decoded again.
        with path.open("rb") as raw:
            while block := raw.read(_READ_BLOCK):
                digest.update(block)
                size += len(block)
    except FileNotFoundError:
        return DocumentError(key=key, message=f"{name}: the uploaded file is missing.")
    except OSError as exc:
        return DocumentError(key=key, message=f"{name}: cannot be read ({exc.strerror}).")
    checksum = digest.hexdigest()
    content_type = "text/markdown" if name.lower().endswith(".md") else "text/plain"
    if known(key, checksum):
        text = None
    else:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return DocumentError(key=key, message=f"{name}: not UTF-8 text.")
        except OSError as exc:
            return DocumentError(key=key, message=f"{name}: cannot be read ({exc.strerror}).")
        text = text.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    return SourceDocument(
        key=key,
        title=name,
        text=text,
        content_type=content_type,
        checksum=checksum,
        size=size,
    )
