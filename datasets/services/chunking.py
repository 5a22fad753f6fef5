"""Cutting a document's text into the passages search ranks and chat quotes.

Deliberately simple and predictable: paragraphs (split at blank lines, whitespace inside
them collapsed) are packed into chunks of at most ``size`` characters; a paragraph longer
than that is cut at a space (or hard, for a run without one). Each chunk after the first
begins with the last ``overlap`` characters of the one before (from a word boundary), so a
sentence cut at a chunk's end is still found whole in the next one.
"""

from __future__ import annotations

import re

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _pieces(paragraph: str, limit: int) -> list[str]:
    pieces = []
    while len(paragraph) > limit:
        cut = paragraph.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(paragraph[:cut].rstrip())
        paragraph = paragraph[cut:].lstrip()
    if paragraph:
        pieces.append(paragraph)
    return pieces


def _tail(text: str, overlap: int) -> str:
    if overlap <= 0 or len(text) <= overlap:
        return ""
    tail = text[-overlap:]
    space = tail.find(" ")
    return tail[space + 1 :] if space >= 0 else tail


def text_chunk(text: str, *, size: int, overlap: int) -> list[str]:
    """``text`` as a list of chunks of at most ``size`` characters (never an empty one)."""
    limit = size - overlap - 1  # room for the overlap and the space that joins it
    pieces: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        paragraph = " ".join(paragraph.split())
        if paragraph:
            pieces.extend(_pieces(paragraph, limit))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > size:
            chunks.append(current)
            tail = _tail(current, overlap)
            current = f"{tail} {piece}" if tail else piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks
