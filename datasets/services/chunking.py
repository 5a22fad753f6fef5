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

Each chunk also carries its *context*: the document's title and the path of headings above
it ("Guide > Install > Linux", joined by U+203A rather than ">"). Search indexes it with the
text (a word only in a heading finds the chunks under it), a refill embeds it with the text,
and citations show it. Markdown's headings are its ATX ones (``## Install``). Plain text has
headings too when it underlines them, as reStructuredText does (Python's and Django's docs,
READMEs): a line of text under a line of one repeated punctuation mark at least as long,
maybe with the same line above it too. Their levels go by the order in which each style
first appears, as reStructuredText defines them; such a text is cut at its top-level
headings like Markdown. A heading's inline markup (``literal``, `code`, :role:`x`, links,
emphasis) is left out of the path (datasets/sources/heading_markup.py).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from datasets.sources.heading_markup import heading_plain

# The same pieces as gateway/emulator/tokens.py: every character matches one of them.
_PIECES = re.compile(r" ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")
_MAX_PIECE = 10
# ATX headings only ("## Install"); setext headings (underlined) are left to the text.
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*)$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# An underline (or overline) of a plain-text heading: one punctuation mark repeated, as
# reStructuredText allows them; at least three, so "--" or "**" in a text is no heading.
_ADORNMENT = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])\1{2,}")
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
            name = heading_plain(_closing_strip(heading.group(2))) if heading else ""
            if heading and name:
                found.append((offset, len(heading.group(1)), name))
        offset += len(line)
    return found


def _underlined_headings(text: str) -> list[tuple[int, int, str]]:
    """Every underlined heading of a plain text: (offset of its first line, level, title).
    The title is a line that starts at the margin, under a blank line (or the text's start)
    or an overline; a table's border ("=====  =====") has spaces, so it is no underline."""
    lines = text.splitlines(keepends=True)
    offsets = list(itertools.accumulate((len(line) for line in lines), initial=0))
    bare = [line.rstrip() for line in lines]
    styles: list[tuple[str, bool]] = []  # in order of first use: their index is the level
    found = []
    n = 1  # the line that may be an underline
    while n < len(bare):
        title, under = bare[n - 1], bare[n]
        mark = _ADORNMENT.fullmatch(under)
        over = n >= 2 and bare[n - 2] == under
        if (
            mark is None
            or not title.strip()
            or title[0].isspace()
            or len(under) < len(title)
            or _ADORNMENT.fullmatch(title)  # two adornments in a row: a rule, not a title
            or (not over and n >= 2 and bare[n - 2])  # under a paragraph's line: text
        ):
            n += 1
            continue
        style = (mark.group(1), over)
        if style not in styles:
            styles.append(style)
        start = n - 2 if over else n - 1
        name = heading_plain(title) or " ".join(title.split())
        found.append((offsets[start], styles.index(style) + 1, name))
        n += 2
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


def _sections_fitted(
    text: str, headings: list[tuple[int, int, str]], tokens: int
) -> list[tuple[int, str]]:
    """Plain text cut before every heading, then neighbours joined while they fit in
    ``tokens`` (never across a top-level heading): what MarkdownSplitter does with Markdown's
    headings, which the plain-text splitter does not see. Without it a heading would end
    one chunk and its section begin the next."""
    if not headings:
        return [(0, text)]
    top = min(level for _, level, _ in headings)
    starts_top = {offset for offset, level, _ in headings if level == top}
    cuts = [0, *(offset for offset, _, _ in headings if offset), len(text)]
    fitted: list[tuple[int, str]] = []
    for start, end in itertools.pairwise(cuts):
        block = text[start:end]
        if fitted and start not in starts_top:
            base, joined = fitted[-1]
            if token_count(joined + block) <= tokens:
                fitted[-1] = (base, joined + block)
                continue
        fitted.append((start, block))
    return fitted


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
    with its context. It is cut first at the document's top-level headings (two top-level
    sections never share a chunk, even when both would fit); then the splitter follows (for
    ``markdown``) the headings below, and paragraphs and sentences; a chunk's heading path
    is the deepest one that holds all of it (two sibling subsections merged into one chunk
    have their parent's path)."""
    splitter = _splitter(markdown, tokens, overlap)
    title = " ".join(title.split())
    headings = _headings(text) if markdown else _underlined_headings(text)
    # The heading path in force from each heading's offset on.
    marks: list[tuple[int, list[str]]] = []
    levels: list[tuple[int, str]] = []
    for offset, level, name in headings:
        levels = [(lvl, n) for lvl, n in levels if lvl < level] + [(level, name)]
        marks.append((offset, [n for _, n in levels]))
    pieces = []
    index = 0  # the first mark after the previous chunk's start
    sections = _sections(text, headings) if markdown else _sections_fitted(text, headings, tokens)
    for base, section in sections:
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
