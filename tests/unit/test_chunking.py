"""Cutting documents into chunks by (estimated) tokens: sizes, overlap, headings, context."""

from __future__ import annotations

import itertools
import re

import pytest

from datasets.services.chunking import (
    CONTEXT_SEPARATOR,
    document_chunk,
    text_chunk,
    token_count,
)


def path(*parts: str) -> str:
    """A context as chunks carry it: "Guide > Install" (joined by U+203A)."""
    return CONTEXT_SEPARATOR.join(parts)


GUIDE = """# Guide

The guide explains what the tool does and who it is for.

## Install

Installing takes a minute on every system we support.

### Linux

Use the package manager: apt on Debian, dnf on Fedora, pacman on Arch.

### Windows

Run the installer and accept the defaults.

## Use

Start it from the menu.
"""


def _words(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def _chunk(text: str, *, markdown: bool, tokens: int = 60, overlap: int = 8, title: str = ""):
    return document_chunk(text, title=title, markdown=markdown, tokens=tokens, overlap=overlap)


def test_the_token_estimate_counts_words_digits_and_punctuation_deterministically():
    assert token_count("") == 0
    assert token_count("Hello world") == 2  # "Hello", " world"
    assert token_count("pay 12345 now!") == 5  # "pay", " 123", "45", " now", "!"
    assert token_count("x" * 100) == 10  # a long run counts one token per ten characters
    assert token_count(GUIDE) == token_count(GUIDE)


@pytest.mark.parametrize("markdown", [True, False])
def test_no_chunk_exceeds_the_token_capacity(markdown):
    text = "\n\n".join(_words(40 + 7 * n, f"w{n}x") + "." for n in range(12))
    chunks = _chunk(text, markdown=markdown, tokens=60, overlap=8)
    assert len(chunks) > 5
    assert all(0 < token_count(chunk.text) <= 60 for chunk in chunks)


def test_consecutive_chunks_of_one_long_paragraph_overlap():
    chunks = _chunk(_words(400), markdown=False, tokens=50, overlap=10)
    assert len(chunks) >= 8
    for before, after in itertools.pairwise(chunks):
        # The next chunk starts with words the previous one ended with.
        assert after.text.split()[0] in before.text.split()[-12:]


def test_without_overlap_no_word_is_repeated():
    chunks = _chunk(_words(400), markdown=False, tokens=50, overlap=0)
    words = [w for chunk in chunks for w in chunk.text.split()]
    assert words == _words(400).split()


def test_empty_or_whitespace_text_gives_no_chunk():
    for text in ("", "   ", "\n\n \t\n"):
        assert _chunk(text, markdown=True) == []
        assert _chunk(text, markdown=False) == []
        assert text_chunk(text, size=100, overlap=10) == []


def test_a_huge_single_paragraph_without_spaces_is_cut():
    chunks = _chunk("x" * 5000, markdown=False, tokens=50, overlap=0)
    assert len(chunks) == 10
    assert all(token_count(chunk.text) <= 50 for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks) == "x" * 5000


def test_a_chunk_never_spans_two_top_level_sections_that_each_fit():
    sections = [f"# Part {n}\n\n" + "lorem ipsum " * 8 for n in range(6)]
    assert token_count("\n\n".join(sections[:2])) <= 60
    chunks = _chunk("\n\n".join(sections), markdown=True, tokens=60, overlap=0)
    # Two sections would fit in 60 tokens; each one is still a chunk of its own.
    assert [len(re.findall(r"^# ", c.text, re.MULTILINE)) for c in chunks] == [1] * 6
    assert [c.context for c in chunks] == [f"Part {n}" for n in range(6)]


def test_the_context_is_the_title_and_the_heading_path_of_nested_headings():
    chunks = _chunk(GUIDE, markdown=True, tokens=20, overlap=0, title="Guide")
    by_start = {chunk.text.split("\n")[0]: chunk.context for chunk in chunks}
    # The first heading is the Markdown title: said once, not "Guide > Guide".
    assert by_start["# Guide"] == "Guide"
    assert by_start["## Install"] == path("Guide", "Install")
    assert by_start["### Linux"] == path("Guide", "Install", "Linux")
    assert by_start["### Windows"] == path("Guide", "Install", "Windows")
    # A heading of a higher level closes the deeper ones.
    assert by_start["## Use"] == path("Guide", "Use")


def test_a_chunk_cut_from_inside_a_section_keeps_the_section_path():
    text = "# Manual\n\n## Setup\n\n" + "\n\n".join(_words(30, f"s{n}x") for n in range(6))
    chunks = _chunk(text, markdown=True, tokens=40, overlap=0, title="The manual")
    assert len(chunks) >= 4
    assert chunks[0].context.startswith(path("The manual", "Manual"))
    assert all(chunk.context == path("The manual", "Manual", "Setup") for chunk in chunks[1:])


def test_the_title_is_carried_into_every_chunk_of_plain_text():
    chunks = _chunk(_words(300), markdown=False, tokens=50, title="  Annual   report ")
    assert len(chunks) > 3
    assert {chunk.context for chunk in chunks} == {"Annual report"}


def test_hashes_in_code_blocks_and_closing_hashes_are_not_heading_text():
    text = "# Top #\n\n```sh\n# a shell comment\n```\n\n## C#\n\nSharp.\n\n## Tail ##\n\nEnd."
    chunks = _chunk(text, markdown=True, tokens=12, overlap=0)
    contexts = [chunk.context for chunk in chunks]
    assert path("Top", "a shell comment") not in contexts
    assert contexts[0] == "Top"
    assert path("Top", "C#") in contexts and path("Top", "Tail") in contexts


def test_text_chunk_still_cuts_by_characters_for_its_callers():
    chunks = text_chunk(_words(500), size=200, overlap=40)
    assert len(chunks) > 10
    assert all(len(chunk) <= 200 for chunk in chunks)
    assert chunks[1].split()[0] in chunks[0].split()


def test_small_subsections_merged_into_one_chunk_carry_their_parents_path():
    text = "# Top\n\n## Setup\n\n" + "\n\n".join(f"### Step {n}\n\nDo {n}." for n in range(4))
    chunks = _chunk(text, markdown=True, tokens=200, overlap=0, title="Top")
    assert len(chunks) == 1
    # It holds the whole document: its path is the title alone.
    assert chunks[0].context == "Top"
    # Without the title heading, the four steps under Setup: Setup holds them all.
    chunks = _chunk(text.split("\n\n", 1)[1], markdown=True, tokens=200, overlap=0, title="T")
    assert [chunk.context for chunk in chunks] == [path("T", "Setup")]
    # A chunk that opens with Setup and holds Step 0 has Setup's path, not Step 0's.
    chunks = _chunk(text, markdown=True, tokens=14, overlap=0, title="Top")
    assert [(chunk.text.split("\n")[0], chunk.context) for chunk in chunks] == [
        ("# Top", "Top"),
        ("## Setup", path("Top", "Setup")),
        ("### Step 1", path("Top", "Setup", "Step 1")),
        ("### Step 2", path("Top", "Setup", "Step 2")),
        ("### Step 3", path("Top", "Setup", "Step 3")),
    ]


MANUAL_RST = """=============
The manual
=============

What the tool is for.

Install
=======

It takes a minute.

On Linux
--------

Use the package manager.

On Windows
----------

Run the installer.

Use
===

Start it from the menu.
"""


def test_plain_text_with_underlined_headings_gets_their_path_by_first_use_of_each_style():
    chunks = _chunk(MANUAL_RST, markdown=False, tokens=12, overlap=0, title="manual.txt")
    by_start = {chunk.text.split("\n")[0]: chunk.context for chunk in chunks}
    # The overlined title is level 1, "=" underlines level 2, "-" level 3: the order in
    # which each style first appears, as reStructuredText ranks them.
    assert by_start["============="] == path("manual.txt", "The manual")
    assert by_start["Install"] == path("manual.txt", "The manual", "Install")
    assert by_start["On Linux"] == path("manual.txt", "The manual", "Install", "On Linux")
    assert by_start["On Windows"] == path("manual.txt", "The manual", "Install", "On Windows")
    assert by_start["Use"] == path("manual.txt", "The manual", "Use")


def test_underlined_top_level_sections_of_plain_text_are_never_merged():
    text = "\n\n".join(f"Part {n}\n======\n\n" + "lorem ipsum " * 8 for n in range(4))
    assert token_count(text) < 200
    chunks = _chunk(text, markdown=False, tokens=200, overlap=0, title="t")
    assert [chunk.context for chunk in chunks] == [path("t", f"Part {n}") for n in range(4)]


@pytest.mark.parametrize(
    "text",
    [
        # A simple table's borders have spaces between their runs.
        "=====  =====\nname   value\n=====  =====\none    1\n=====  =====\n",
        # An underline shorter than its line is a rule under a sentence, not a title.
        "A longer line of text\n-----\n\nbody\n",
        # A line of a paragraph with a rule under it is not a title.
        "first line of a paragraph\nsecond line\n--------------------------\n",
        # Indented (a quote or a literal block).
        "    code = 1\n    ------------\n",
        # Two marks are punctuation in running text, and a rule under a blank line is no
        # heading.
        "Done\n--\n\n\n-----\n",
    ],
)
def test_lines_that_only_look_underlined_are_not_headings(text):
    chunks = _chunk(text, markdown=False, tokens=200, overlap=0, title="t")
    assert [chunk.context for chunk in chunks] == ["t"]
    assert "".join(chunk.text for chunk in chunks).split() == text.split()


def test_heading_paths_leave_out_the_headings_inline_markup():
    rst = (
        "``QuerySet`` API\n================\n\nbody text\n\n"
        ":class:`~django.db.Model` methods\n=================================\n\nmore\n"
    )
    plain = _chunk(rst, markdown=False, tokens=200, overlap=0, title="ref.txt")
    assert [c.context for c in plain] == [
        path("ref.txt", t) for t in ("QuerySet API", "Model methods")
    ]
    markdown = "# The `pip` **guide**\n\nintro\n\n## [Install](install.md) on *Linux*\n\nsteps\n"
    # The title the Markdown reader found has no markup either: said once, not twice.
    chunks = _chunk(markdown, markdown=True, tokens=8, overlap=0, title="The pip guide")
    assert chunks[-1].context == path("The pip guide", "Install on Linux")
