"""Plain text out of the bytes of one document: txt, md, html, pdf, docx, csv, json, jsonl.

Every input is untrusted. A parser that fails raises FormatError with a message a person can
read, and the source turns it into a DocumentError: one bad file never stops a refill.

The formats that expand (PDF streams, a .docx's zip) or whose parsers do unbounded work on
one call (HTML) are read in a forked child killed after ``AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT_S``
(datasets/sources/bounded.py says why a child), and what they may expand to is capped by
``AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES`` (pypdf's own limits per stream, the .docx's
central directory, the text extracted). The others are read in-process in time linear in
their size, which ``AIPORTAL_DOCUMENT_MAX_BYTES`` bounds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import charset_normalizer
from django.conf import settings

from datasets.sources.base import DocumentError, FormatError, SourceDocument
from datasets.sources.bounded import ChildFailed, Overtime, bounded_call
from datasets.sources.heading_markup import heading_plain
from datasets.sources.zip_rules import zip_check

logger = logging.getLogger(__name__)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ZIP = "application/zip"

# The extensions uploads, folders and archive entries may have, and what each one is.
EXTENSIONS = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": DOCX,
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/jsonl",
    ".zip": ZIP,
}

# Content types from a web server, mapped to the extractor that reads them.
_MEDIA = {
    "text/html": "text/html",
    "application/xhtml+xml": "text/html",
    "text/plain": "text/plain",
    "text/markdown": "text/markdown",
    "text/x-markdown": "text/markdown",
    "text/csv": "text/csv",
    "application/json": "application/json",
    "application/jsonl": "application/jsonl",
    "application/x-ndjson": "application/jsonl",
    "application/pdf": "application/pdf",
    DOCX: DOCX,
}


@dataclass(frozen=True, slots=True)
class Extracted:
    title: str
    text: str


def content_type_for(name: str) -> str | None:
    """What a file is, from its name; None if aiportal does not read it."""
    return EXTENSIONS.get(PurePosixPath(name).suffix.lower())


def media_to_kind(media: str) -> str | None:
    return _MEDIA.get(media)


def text_decode(data: bytes, charset: str = "") -> str:
    """Bytes of unknown encoding to text: the BOM, then the declared charset, then UTF-8,
    then a detector's best guess. Never fails: an odd byte becomes U+FFFD."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[: 1024 * 1024]).best()
    encoding = best.encoding if best is not None else "utf-8"
    return data.decode(encoding, "replace")


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and other control characters only confuse a model.
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def extract(data: bytes, *, content_type: str, name: str, charset: str = "") -> Extracted:
    """The title and text of one document of ``content_type`` (one of EXTENSIONS' values, or
    a web content type). ``name`` is the fallback title. Raises FormatError."""
    kind = _MEDIA.get(content_type, content_type)
    reader = _READERS.get(kind)
    if reader is None:
        raise FormatError(f"{content_type} is not a format aiportal reads")
    try:
        if kind in _BOUNDED:
            title, text = _read_bounded(reader, data, charset, kind)
        else:
            title, text = reader(data, charset)
    except FormatError:
        raise
    except RecursionError:
        raise FormatError("it is nested too deeply to read") from None
    except Exception as exc:
        # Parsers of untrusted files fail in ways no list of exceptions covers; the file is
        # reported and the refill goes on.
        logger.info("could not read %s as %s", name, kind, exc_info=True)
        raise FormatError(f"it could not be read as {kind} ({type(exc).__name__})") from None
    text = _clean(text)
    if not text:
        raise FormatError("it contains no text")
    title = " ".join((title or "").split())[:300]
    return Extracted(title=title or PurePosixPath(name).name or name, text=text)


def _read_bounded(reader, data: bytes, charset: str, kind: str) -> tuple[str, str]:
    seconds = settings.AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT
    try:
        return bounded_call(reader, data, charset, seconds=seconds)
    except Overtime:
        raise FormatError(
            f"reading it took longer than {seconds:g} seconds, the limit for one document "
            "(AIPORTAL_DOCUMENT_EXTRACT_TIMEOUT_S); it was skipped"
        ) from None
    except ChildFailed as exc:
        if exc.kind == "FormatError":
            raise FormatError(exc.message) from None
        if exc.kind == "RecursionError":
            raise FormatError("it is nested too deeply to read") from None
        logger.info("could not read a document as %s: %s: %s", kind, exc.kind, exc.message)
        what = f" ({exc.kind})" if exc.kind else ""
        raise FormatError(f"it could not be read as {kind}{what}") from None


def _expanded_too_much(what: str) -> FormatError:
    return FormatError(
        f"{what} expands past {settings.AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES} bytes, the limit "
        "for one document (AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES)"
    )


def _plain(data: bytes, charset: str) -> tuple[str, str]:
    return "", text_decode(data, charset)


def _markdown(data: bytes, charset: str) -> tuple[str, str]:
    text = text_decode(data, charset)
    # The closing #s are stripped in Python: a lazy group before them in the pattern takes
    # quadratic time on a long line of spaces.
    heading = re.search(r"^#{1,6}[ \t]+(.+)$", text, re.MULTILINE)
    # Without its inline markup, as chunking names the headings: the path under it then
    # starts with the same words, and the title is said once, not twice.
    return (heading_plain(heading.group(1).rstrip(" \t#")) if heading else ""), text


def _html(data: bytes, charset: str) -> tuple[str, str]:
    import lxml.html
    import trafilatura

    markup = text_decode(data, charset)
    if not markup.strip():
        return "", ""
    tree = lxml.html.fromstring(markup.encode("utf-8"), parser=_html_parser())
    title = tree.findtext(".//title") or ""
    text = trafilatura.extract(
        markup, include_comments=False, include_tables=True, deduplicate=False, fast=False
    )
    if not text:
        # Short pages (a list, a single paragraph) can fall under the extractor's idea of
        # "main content": their whole visible text is better than nothing.
        for element in tree.xpath("//script|//style|//noscript|//template"):
            element.drop_tree()
        body = tree.find(".//body")
        text = (body if body is not None else tree).text_content()
    return title, text


def _html_parser():
    import lxml.html

    # No network, no entities resolved: the HTML is untrusted.
    return lxml.html.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True)


# pypdf's limits, all set to the one budget: each is the most bytes one stream (or one
# image, or one stream's decoding work) may take.
_PDF_LIMITS = (
    "maximum_declared_stream_length",
    "array_based_stream_maximum_output_length",
    "jbig2_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "zlib_maximum_output_length",
    "brotli_maximum_output_length",
    "image_maximum_buffer_size",
    "stream_decoding_work_maximum_length",
    "xfa_decoding_work_maximum_length",
)


def _pdf(data: bytes, charset: str) -> tuple[str, str]:
    import pypdf
    from pypdf.errors import LimitReachedError

    budget = settings.AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES
    limits = {name: budget for name in _PDF_LIMITS}
    with pypdf.apply_configuration(**limits):
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise FormatError("the PDF is protected by a password")
            pages = []
            size = 0
            for page in reader.pages:
                text = page.extract_text() or ""
                size += len(text)
                if size > budget:
                    raise _expanded_too_much("its text")
                pages.append(text)
            title = ""
            if reader.metadata is not None and reader.metadata.title:
                title = str(reader.metadata.title)
        except LimitReachedError:
            raise _expanded_too_much("a stream of the PDF") from None
    text = "\n\n".join(pages)
    if not text.strip():
        raise FormatError("the PDF has no text layer (a scanned PDF needs OCR first)")
    return title, text


def _docx(data: bytes, charset: str) -> tuple[str, str]:
    import zipfile

    import docx
    from docx.table import Table

    # A .docx is a zip: the same bomb checks as any archive, before python-docx inflates it.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = zip_check(archive)
    except zipfile.BadZipFile:
        raise FormatError("it is not a valid .docx (not a zip archive)") from None
    # One document, not an archive of many: its parts get one document's budget.
    if sum(info.file_size for info in entries) > settings.AIPORTAL_DOCUMENT_MAX_EXPANDED_BYTES:
        raise _expanded_too_much("the .docx")
    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = [cell.text.strip() for cell in row.cells]
                lines.append(" | ".join(cell for cell in cells if cell))
        else:
            lines.append(block.text)
    return document.core_properties.title or "", "\n".join(lines)


def _csv(data: bytes, charset: str) -> tuple[str, str]:
    text = text_decode(data, charset)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(rows, [])
        lines = []
        # Each row names its columns, so a chunk cut from the middle still says what it is.
        for row in rows:
            pairs = [
                f"{(header[i] if i < len(header) else '').strip() or f'column {i + 1}'}: {value}"
                for i, value in enumerate(row)
                if value.strip()
            ]
            if pairs:
                lines.append("; ".join(pairs))
    except csv.Error as exc:
        raise FormatError(f"it is not valid CSV ({exc})") from None
    if not lines:
        lines = [", ".join(header)]
    return "", "\n".join(lines)


def _json_lines(value: object) -> list[str]:
    """The scalar values of a JSON document, each after the path of keys that leads to it
    (list positions left out: "authors.name: Ada"). Iterative, so depth cannot overflow."""
    lines: list[str] = []
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                stack.append((f"{path}.{key}" if path else str(key), child))
        elif isinstance(item, list):
            for child in reversed(item):
                stack.append((path, child))
        elif item is None or item == "":
            continue
        else:
            shown = json.dumps(item) if isinstance(item, bool) else str(item)
            lines.append(f"{path}: {shown}" if path else shown)
    return lines


def _json(data: bytes, charset: str) -> tuple[str, str]:
    try:
        value = json.loads(text_decode(data, charset))
    except json.JSONDecodeError as exc:
        raise FormatError(f"it is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return "", "\n".join(_json_lines(value))


def _jsonl(data: bytes, charset: str) -> tuple[str, str]:
    records = []
    for number, line in enumerate(text_decode(data, charset).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FormatError(f"line {number} is not valid JSON ({exc.msg})") from None
        records.append("\n".join(_json_lines(value)))
    return "", "\n\n".join(record for record in records if record)


# Read in a forked child with a deadline (the others are linear in their bounded size).
_BOUNDED = frozenset({"text/html", "application/pdf", DOCX})

_READERS: dict[str, Callable[[bytes, str], tuple[str, str]]] = {
    "text/plain": _plain,
    "text/markdown": _markdown,
    "text/html": _html,
    "application/pdf": _pdf,
    DOCX: _docx,
    "text/csv": _csv,
    "application/json": _json,
    "application/jsonl": _jsonl,
}


def document_build(
    *,
    key: str,
    name: str,
    data: bytes,
    content_type: str,
    known: Callable[[str, str], bool],
    url: str = "",
    charset: str = "",
) -> SourceDocument | DocumentError:
    """One document from its bytes: reused without extracting when ``known`` says so."""
    checksum = hashlib.sha256(data).hexdigest()
    kind = _MEDIA.get(content_type, content_type)
    if known(key, checksum):
        return SourceDocument(
            key=key,
            title=PurePosixPath(name).name or name,
            text=None,
            content_type=kind,
            checksum=checksum,
            size=len(data),
            url=url,
        )
    try:
        extracted = extract(data, content_type=kind, name=name, charset=charset)
    except FormatError as exc:
        return DocumentError(key=key, message=f"{name}: {exc}")
    return SourceDocument(
        key=key,
        title=extracted.title,
        text=extracted.text,
        content_type=kind,
        checksum=checksum,
        size=len(data),
        url=url,
    )
