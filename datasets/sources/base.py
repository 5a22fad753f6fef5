"""What a source yields to a refill, and how a source says it failed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One document of a source. ``text`` is None when the caller's ``known(key, checksum)``
    said it already has this exact content: the refill reuses it without extracting again."""

    key: str  # stable identity within the dataset, e.g. "upload:report.pdf", a URL, "folder:a/b.md"
    title: str
    text: str | None  # extracted plain text (untrusted), or None for known content
    content_type: str  # what the bytes were, e.g. "text/markdown", "application/pdf"
    checksum: str  # sha256 hex of the raw bytes
    size: int  # raw bytes
    url: str = ""  # an http(s) address a citation may link to, else ""


@dataclass(frozen=True, slots=True)
class DocumentError:
    """One document that could not be read; the refill records it and goes on."""

    key: str
    message: str


class SourceError(Exception):
    """The whole source failed. ``retryable``: a later attempt may succeed (timeout, 5xx)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class FormatError(Exception):
    """This document cannot be read; the message says why."""
