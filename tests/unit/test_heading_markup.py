"""A heading's inline markup is left out of the names chunks carry; the words stay, and code
is kept as written."""

from __future__ import annotations

import pytest

from datasets.sources.heading_markup import MAX_CHARS, heading_plain


@pytest.mark.parametrize(
    ("written", "read"),
    [
        # reStructuredText
        ("``QuerySet`` API reference", "QuerySet API reference"),
        (":mod:`django.db` and :class:`~django.db.models.Model`", "django.db and Model"),
        (":ref:`Writing views <writing-views>`", "Writing views"),
        ("The `Python docs <https://python.org>`_ say", "The Python docs say"),
        ("Use `this one`__ here", "Use this one here"),
        ("*Very* important", "Very important"),
        # Markdown
        ("Install `pip` **now**", "Install pip now"),
        ("[Guide](http://example.org/x) for *you*", "Guide for you"),
        ("![Logo](logo.png) Brand", "Logo Brand"),
        # Code keeps what it quotes, stars and underscores included.
        ("``__init__`` method", "__init__ method"),
        ("The ``*args`` form", "The *args form"),
        # Unpaired or spaced-out marks are text, not markup.
        ("C* and a * b", "C* and a * b"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("Foo *bar", "Foo *bar"),
        ("An `odd one", "An `odd one"),
        ("__init__ and __main__", "__init__ and __main__"),
        ("snake_case_name", "snake_case_name"),
        ("  spaced \t out  ", "spaced out"),
    ],
)
def test_a_heading_reads_without_its_markup(written, read):
    assert heading_plain(written) == read


@pytest.mark.parametrize("mark", ["**a ", "*a ", "[a](", "``a"])
def test_a_huge_heading_of_unpaired_marks_is_read_only_up_to_its_cap(mark):
    # A document may hold a megabyte-long heading line: read whole, the emphasis patterns
    # would take hours on it (their time grows with the square of its length).
    read = heading_plain(mark * 300_000)
    assert 0 < len(read) <= MAX_CHARS
