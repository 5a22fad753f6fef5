"""A heading's name as a person reads it, without the inline markup its source wrote.

Headings become a chunk's context: citations show it ("Guide > QuerySet API reference") and
search indexes it. Their markup is noise there: reStructuredText's ``literal``,
:role:`target`, `link <url>`_ and *emphasis*; Markdown's `code`, [link](url) and **strong**.
Only markup that is paired is taken off ("C*" and "a * b" keep their stars), the words it
marked stay, and what is quoted as code stays as written (``__init__`` keeps its
underscores; ``__x__`` outside code is left alone too, since Python's names look like it).
"""

from __future__ import annotations

import re

# :role:`text <target>` and :role:`target`.
_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)?:`([^`]+)`")
# Code (``x`` or `x`) and reStructuredText's links (`text <url>`_, `text`__): kept verbatim.
_QUOTED = re.compile(r"(``.+?``|`[^`]+`(?:__?)?)")
# ![alt](src) and [text](url) in Markdown.
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_TARGET = re.compile(r"^(.*?)\s*<[^<>]*>$")
# A heading is read up to here: a chunk's context keeps no more of it (chunking's
# CONTEXT_MAX_CHARS), and the emphasis patterns take quadratic time on a long run of
# unpaired marks ("**a **a …": two seconds for 32,000 characters, hours for a megabyte).
MAX_CHARS = 1000


def _shown(reference: str) -> str:
    """What a role or link shows: its text before ``<target>``, or else its target, of
    which Sphinx shows only the last name when it starts with "~" (``~a.b.Name``)."""
    text = _TARGET.sub(r"\1", reference).strip() or reference
    if text.startswith("~"):
        text = text[1:].rsplit(".", 1)[-1]
    return text


def _unquoted(part: str) -> str:
    if part.startswith("``"):
        return part[2:-2]
    if part.endswith("_"):
        return _shown(part.rstrip("_")[1:-1])
    return part[1:-1]


def _unmarked(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    text = _STRONG.sub(r"\1", text)
    return _EMPHASIS.sub(r"\1", text)


def heading_plain(name: str) -> str:
    """``name`` without its inline markup, its spaces collapsed; at most MAX_CHARS of it."""
    name = name[:MAX_CHARS]
    name = _ROLE.sub(lambda m: "`" + _shown(m.group(1)).replace("`", "") + "`", name)
    parts = _QUOTED.split(name)  # the odd ones are quoted
    name = "".join(_unquoted(part) if i % 2 else _unmarked(part) for i, part in enumerate(parts))
    return " ".join(name.split())
