"""URL lists and sitemaps: every page, and every sitemap, through the one fetcher."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from xml.etree.ElementTree import ParseError

import defusedxml
import defusedxml.ElementTree
from django.conf import settings

from datasets.sources.base import DocumentError, SourceDocument, SourceError
from datasets.sources.fetch import XML_TYPES, url_check, url_fetch
from datasets.sources.formats import document_build

_GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})


def urls_documents(
    *, urls: list[str], known: Callable[[str, str], bool]
) -> Iterator[SourceDocument | DocumentError]:
    """One document per URL, keyed by the URL. A page that cannot be had for good (404, a
    refused address or type) is a DocumentError; a transient failure (timeout, 5xx) fails
    the whole source as retryable, so a refill never drops a page because a server hiccuped."""
    for url in urls:
        try:
            fetched = url_fetch(url)
        except SourceError as exc:
            if exc.retryable:
                raise
            yield DocumentError(key=url, message=exc.message)
            continue
        yield document_build(
            key=url,
            name=url,
            data=fetched.body,
            content_type=fetched.content_type,
            known=known,
            url=fetched.url,
            charset=fetched.charset,
        )


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _gunzip(body: bytes, url: str) -> bytes:
    limit = settings.AIPORTAL_DOCUMENT_MAX_BYTES
    inflate = zlib.decompressobj(wbits=31)
    try:
        data = inflate.decompress(body, limit + 1)
    except zlib.error:
        raise SourceError(f"{url}: the gzip file is corrupt", retryable=False) from None
    if len(data) > limit:
        raise SourceError(f"{url}: expands past the {limit}-byte limit", retryable=False)
    return data


def _sitemap_read(url: str) -> tuple[str, list[str]]:
    """("urlset" or "sitemapindex", the <loc> addresses it lists)."""
    fetched = url_fetch(url, accept=XML_TYPES | _GZIP_TYPES)
    body = fetched.body
    if fetched.content_type in _GZIP_TYPES:
        body = _gunzip(body, url)
    try:
        # Untrusted XML: defusedxml refuses entity declarations (billion laughs) and any
        # external reference.
        root = defusedxml.ElementTree.fromstring(body)
    except (ParseError, defusedxml.DefusedXmlException) as exc:
        raise SourceError(f"{url} is not a readable sitemap ({exc})", retryable=False) from None
    kind = _local(root.tag)
    if kind not in {"urlset", "sitemapindex"}:
        raise SourceError(f"{url} is not a sitemap (its root element is <{kind}>)", retryable=False)
    locs = []
    for element in root:
        for child in element:
            if _local(child.tag) == "loc" and child.text and child.text.strip():
                locs.append(child.text.strip())
    return kind, locs


def sitemap_urls(url: str) -> tuple[list[str], list[DocumentError]]:
    """Every page a sitemap (or an index of sitemaps) lists, in order, without repeats; and
    the entries that are not URLs aiportal may fetch."""
    max_urls = settings.AIPORTAL_SITEMAP_MAX_URLS
    max_depth = settings.AIPORTAL_SITEMAP_MAX_DEPTH
    pages: dict[str, None] = {}
    errors: list[DocumentError] = []
    queue: list[tuple[str, int]] = [(url, 0)]
    visited: set[str] = set()
    while queue:
        current, depth = queue.pop(0)
        if current in visited:
            continue
        visited.add(current)
        kind, locs = _sitemap_read(current)
        if kind == "sitemapindex" and depth >= max_depth:
            raise SourceError(
                f"{current}: sitemap index files nest deeper than {max_depth} "
                "(AIPORTAL_SITEMAP_MAX_DEPTH)",
                retryable=False,
            )
        for loc in locs:
            try:
                checked = url_check(loc)
            except SourceError as exc:
                errors.append(DocumentError(key=loc[:2000], message=exc.message))
                continue
            if kind == "sitemapindex":
                if len(visited) + len(queue) >= max_urls:
                    raise SourceError(f"{url} lists more than {max_urls} sitemaps", retryable=False)
                queue.append((checked, depth + 1))
                continue
            pages[checked] = None
            if len(pages) > max_urls:
                # An arbitrary subset would be worse than none: the pages left out would be
                # deleted from the dataset by the refill.
                raise SourceError(
                    f"{url} lists more than {max_urls} pages; raise AIPORTAL_SITEMAP_MAX_URLS "
                    "or point the source at a smaller sitemap",
                    retryable=False,
                )
    return list(pages), errors


def sitemap_documents(
    *, url: str, known: Callable[[str, str], bool]
) -> Iterator[SourceDocument | DocumentError]:
    pages, errors = sitemap_urls(url)
    yield from errors
    yield from urls_documents(urls=pages, known=known)
