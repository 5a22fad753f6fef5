"""Where a dataset's documents come from: uploads, URL lists, sitemaps and server folders.

The refill calls only ``iter_documents``, ``upload_store`` and ``source_config_check``; the
rest of this package is theirs. docs/datasets.md ("Sources and formats") says what each kind
accepts and refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from datasets.sources.base import DocumentError, SourceDocument, SourceError
from datasets.sources.fetch import url_check
from datasets.sources.folders import (
    folder_access_check,
    folder_documents,
    folder_locate,
    folder_roots_usable,
)
from datasets.sources.formats import content_type_for
from datasets.sources.uploads import (
    STORED_NAME,
    upload_documents,
    upload_name_clean,
    upload_store,
)
from datasets.sources.web import sitemap_documents, urls_documents

__all__ = [
    "KINDS",
    "DocumentError",
    "SourceDocument",
    "SourceError",
    "folder_access_check",
    "folder_roots_usable",
    "iter_documents",
    "source_config_check",
    "upload_store",
]

KINDS = ("upload", "urls", "sitemap", "folder")


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a URL is empty")
    try:
        return url_check(value.strip())
    except SourceError as exc:
        raise ValueError(exc.message) from None


def source_config_check(*, kind: str, config: dict) -> dict:
    """The config of a source of ``kind``, validated and normalised (store this one), or
    ValueError with a message a person can act on. Checks what can be checked without the
    network: the fetcher checks resolved addresses again on every fetch."""
    if not isinstance(config, dict):
        raise ValueError("a source's settings must be a JSON object")
    if kind == "upload":
        files = config.get("files")
        if not isinstance(files, list):
            raise ValueError("an upload source needs a list of files")
        if len(files) > settings.AIPORTAL_UPLOAD_MAX_FILES:
            raise ValueError(
                f"an upload source holds at most {settings.AIPORTAL_UPLOAD_MAX_FILES} files "
                "(AIPORTAL_UPLOAD_MAX_FILES)"
            )
        normal = []
        for item in files:
            if not isinstance(item, dict) or not isinstance(item.get("stored"), str):
                raise ValueError("each uploaded file needs its stored name and its name")
            if not STORED_NAME.match(item["stored"]):
                raise ValueError(f"{item['stored']!r} is not a name upload_store gave")
            try:
                name = upload_name_clean(item.get("name", ""))
            except SourceError as exc:
                raise ValueError(exc.message) from None
            if content_type_for(name) is None:
                raise ValueError(f"{name}: aiportal does not read this kind of file")
            normal.append({"stored": item["stored"], "name": name})
        return {"files": normal}
    if kind == "urls":
        urls = config.get("urls")
        if isinstance(urls, str):  # one per line, as typed into a text box
            urls = urls.split()
        if not isinstance(urls, list) or not urls:
            raise ValueError("a URL source needs at least one URL")
        checked = list(dict.fromkeys(_url(url) for url in urls))
        if len(checked) > settings.AIPORTAL_SITEMAP_MAX_URLS:
            raise ValueError(
                f"a URL source takes at most {settings.AIPORTAL_SITEMAP_MAX_URLS} URLs "
                "(AIPORTAL_SITEMAP_MAX_URLS)"
            )
        return {"urls": checked}
    if kind == "sitemap":
        return {"url": _url(config.get("url"))}
    if kind == "folder":
        root, path = config.get("root"), config.get("path", "")
        if not isinstance(root, str) or not isinstance(path, str):
            raise ValueError("a folder source needs a root name and a path")
        _base, _start, relative = folder_locate(root=root, path=path)
        return {"root": root, "path": relative}
    raise ValueError(f"{kind!r} is not a kind of source; the kinds are {', '.join(KINDS)}")


def _config_for_reading(kind: str, config: dict) -> dict:
    if kind == "folder":
        # Existence is checked while reading: a folder that vanished is a retryable failure,
        # not a bad config.
        return {"root": config.get("root"), "path": config.get("path", "")}
    try:
        return source_config_check(kind=kind, config=config)
    except ValueError as exc:
        raise SourceError(f"the source's settings are not valid: {exc}", retryable=False) from None


def iter_documents(
    *,
    kind: str,
    config: dict,
    files_dir: Path,
    known: Callable[[str, str], bool],
    reader=None,
) -> Iterator[SourceDocument | DocumentError]:
    """Every document of one source, as it is now. ``known(key, checksum)`` true means the
    caller has this exact content: the document comes back with ``text=None``, unextracted.
    ``reader`` is the person a server folder is read for (who added the source): they must
    still be allowed to use its root. Raises SourceError when the whole source failed
    (``retryable`` says whether to retry)."""
    config = _config_for_reading(kind, config)
    if kind == "upload":
        documents = upload_documents(files=config["files"], files_dir=files_dir, known=known)
    elif kind == "urls":
        documents = urls_documents(urls=config["urls"], known=known)
    elif kind == "sitemap":
        documents = sitemap_documents(url=config["url"], known=known)
    elif kind == "folder":
        if not isinstance(config["root"], str) or not isinstance(config["path"], str):
            raise SourceError("a folder source needs a root name and a path", retryable=False)
        documents = folder_documents(
            root=config["root"], path=config["path"], known=known, reader=reader
        )
    else:
        raise SourceError(f"{kind!r} is not a kind of source", retryable=False)
    seen: dict[str, int] = {}
    for item in documents:
        # Two documents under one key would overwrite each other in the refill: the first
        # wins and the second is reported under a key of its own.
        if isinstance(item, SourceDocument):
            count = seen.get(item.key, 0)
            seen[item.key] = count + 1
            if count:
                yield DocumentError(
                    key=f"{item.key}#{count + 1}",
                    message=f"{item.key} appears twice in this source; only the first is kept",
                )
                continue
        yield item
