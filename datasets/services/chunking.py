"""Cutting a document's text into the passages search ranks and chat quotes.

Sizes are in tokens, because what a chunk costs (in a model's context, and soon to embed)
is counted in tokens, not characters. The cutting is semantic-text-splitter's: Markdown with
``MarkdownSplitter``, so a chunk follows headings, then paragraphs, then sentences, and two
sections that each fit are never merged across their heading; everything else with
``TextSplitter`` (paragraphs, sentences, words, and only then characters, so a huge
paragraph is still cut). Each chunk may start with up to ``overlap`` tokens of the previous
one, so a sentence cut at a chunk's end is still found whole in the next one.

Tokens are counted by an estimate, not a model's tokenizer: none can be downloaded here
(no network, no model files), a real one would tie chunking to one model while the model
behind the gateway changes, and the same text must always give the same chunks (a refill
reuses stored chunks by checksum). ``token_count`` splits text the way a byte-level BPE
pre-tokenizer does (words with their leading space, runs of up to three digits, runs of
punctuation, whitespace) and counts a word longer than ten characters as one token per ten:
about one token per four characters of English, the same rule as the gateway emulator's
tokenizer (which datasets may not import: it is inside the gateway, behind its door). A
real tokenizer's count differs somewhat; the estimate is for sizing, not for billing.

Each chunk also carries its *context*: the document's title and the path of Markdown
headings above it ("Guide > Install > Linux", joined by U+203A rather than ">"). Search
indexes it with the text (a word only in a heading finds the chunks under it) and citations
show it.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

from semantic_text_splitter import MarkdownSplitter, TextSplitter

# The same pieces as gateway/emulator/tokens.py: every character matches one of them.
_PIECES = re.compile(r" ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")
_MAX_PIECE = 10
# ATX headings only ("## Install"); setext headings (underlined) are left to the text.
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*)$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CONTEXT_SEPARATOR = " \u203a "  # " > " with a single right-pointing angle quotation mark
CONTEXT_MAX_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    context: str  # "Title > Heading > Subheading"


def token_count(text: str) -> int:
    """The estimated number of tokens in ``text`` (see the module's docstring)."""
    return sum(-(-len(piece) // _MAX_PIECE) for piece in _PIECES.findall(text))


@lru_cache(maxsize=8)
def _splitter(markdown: bool, tokens: int, overlap: int) -> MarkdownSplitter | TextSplitter:
    kind = MarkdownSplitter if markdown else TextSplitter
    return kind.from_callback(token_count, tokens, overlap=overlap)


def _headings(text: str) -> list[tuple[int, int, str]]:
    """Every ATX heading outside fenced code: (offset in characters, level, title)."""
    found = []
    fence = ""
    offset = 0
    for line in text.splitlines(keepends=True):
        opener = _FENCE.match(line)
        if fence:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = ""
        elif opener:
            fence = opener.group(1)
        else:
            heading = _HEADING.match(line.rstrip("\n"))
            name = _closing_strip(heading.group(2)) if heading else ""
            if heading and name:
                found.append((offset, len(heading.group(1)), name))
        offset += len(line)
    return found


def _closing_strip(name: str) -> str:
    # "## Install ##" is "Install", "## C#" is "C#". Done in Python, not in the pattern: a
    # lazy group before the closing #s takes quadratic time on a long line of spaces.
    name = name.rstrip(" \t")
    bare = name.rstrip("#")
    if bare != name and (not bare or bare[-1] in " \t"):
        name = bare
    return " ".join(name.split())


def _context(title: str, path: list[str]) -> str:
    # A Markdown document's title is its first heading: said once, not twice.
    if path and title and path[0] == title:
        path = path[1:]
    parts = [part for part in [title, *path] if part]
    return CONTEXT_SEPARATOR.join(parts)[:CONTEXT_MAX_CHARS]


def _sections(text: str, headings: list[tuple[int, int, str]]) -> list[tuple[int, str]]:
    """``text`` cut before each heading of the highest level it has: (offset, section)."""
    if not headings:
        return [(0, text)]
    top = min(level for _, level, _ in headings)
    cuts = [0, *(offset for offset, level, _ in headings if level == top and offset), len(text)]
    return [(start, text[start:end]) for start, end in itertools.pairwise(cuts)]


def _common(paths: list[list[str]]) -> list[str]:
    common = paths[0]
    for path in paths[1:]:
        n = 0
        while n < min(len(common), len(path)) and common[n] == path[n]:
            n += 1
        common = common[:n]
    return common


def document_chunk(
    text: str, *, title: str, markdown: bool, tokens: int, overlap: int
) -> list[Piece]:
    """``text`` as chunks of at most ``tokens`` estimated tokens (never an empty one), each
    with its context. ``markdown`` cuts first at the document's top-level headings (two
    top-level sections never share a chunk, even when both would fit), then lets the
    splitter follow the headings below, paragraphs and sentences; a chunk's heading path is
    the deepest one that holds all of it (two sibling subsections merged into one chunk have
    their parent's path)."""
    splitter = _splitter(markdown, tokens, overlap)
    title = " ".join(title.split())
    if not markdown:
        context = _context(title, [])
        return [Piece(text=chunk, context=context) for chunk in splitter.chunks(text)]
    headings = _headings(text)
    # The heading path in force from each heading's offset on.
    marks: list[tuple[int, list[str]]] = []
    levels: list[tuple[int, str]] = []
    for offset, level, name in headings:
        levels = [(lvl, n) for lvl, n in levels if lvl < level] + [(level, name)]
        marks.append((offset, [n for _, n in levels]))
    pieces = []
    index = 0  # the first mark after the previous chunk's start
    for base, section in _sections(text, headings):
        for start, chunk in splitter.chunk_indices(section):
            start += base
            end = start + len(chunk)
            while index < len(marks) and marks[index][0] <= start:
                index += 1
            # The path where the chunk starts, and after every heading inside it.
            paths = [marks[index - 1][1] if index else []]
            inside = index
            while inside < len(marks) and marks[inside][0] < end:
                paths.append(marks[inside][1])
                inside += 1
            pieces.append(Piece(text=chunk, context=_context(title, _common(paths))))
    return pieces


def text_chunk(text: str, *, size: int, overlap: int) -> list[str]:
    """``text`` as a list of chunks of at most ``size`` characters (never an empty one),
    each starting with up to ``overlap`` characters of the one before: for callers that
    budget in characters (chat's attachments). Datasets cut by tokens (``document_chunk``)."""
    return TextSplitter(size, overlap=overlap).chunks(text)
