"""Every text a person reads in a template is marked for translation.

Each template is read with Django's own Lexer; the text outside ``{% translate %}`` and
``{% blocktranslate %}`` is what a French reader would see in English. Markup, whitespace,
punctuation, entities and the contents of ``<script>``/``<style>`` carry no words; of the
attributes, only those a person reads or hears (title, aria-label, placeholder, alt, label)
must be marked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# Words that are the same in every language, each with why.
ALLOWED_WORDS = {
    "aiportal",  # the product's name
    "markdown",  # a format's name, as its file extension says
    "json",  # a format's name
    "md",  # Markdown's file extension
    "ctrl",  # the key is labelled Ctrl on French and English keyboards alike
    "f2",  # a function key's label
    "ttft",  # time to first token: the admins' metric, named as vLLM and dashboards name it
}

_HUMAN_ATTRIBUTE = re.compile(
    r"""(?<![\w-])(title|aria-label|aria-description|placeholder|alt|label)\s*=\s*(["'])(.*?)\2""",
    re.S | re.I,
)
# Program text, not prose: scripts, styles and code samples.
_SCRIPT_OR_STYLE = re.compile(r"<(script|style|code|pre)\b.*?</\1\s*>", re.S | re.I)
# File names and folders (profile.json, conversations/) are named the same in every language.
_FILE_NAME = re.compile(r"[\w-]+(?:\.\w+)+|[\w-]+/")
_TAG = re.compile(r"<[^>]*>", re.S)
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", re.I)
# What stands for a template tag or variable in the text (no letter, no quote, no ">").
_CODE = "\x00"


# Blocks whose text is code, not prose: the admin's body CSS classes.
CODE_BLOCKS = {"bodyclass"}


def _block_name(token) -> str:
    return token.contents.split()[0] if token.contents.split() else ""


def template_text(source: str) -> str:
    """The template's literal text outside translation blocks and comments, with every tag
    and variable replaced by a letterless stand-in."""
    parts: list[str] = []
    depth_translated = 0
    in_comment = in_code = False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = _block_name(token)
            if (
                name == "block"
                and token.contents.split()[1:2]
                and token.contents.split()[1] in CODE_BLOCKS
            ):
                in_code = True
            elif name == "endblock":
                in_code = False
            if name == "comment":
                in_comment = True
            elif name == "endcomment":
                in_comment = False
            elif name in ("blocktranslate", "blocktrans"):
                depth_translated += 1
            elif name in ("endblocktranslate", "endblocktrans"):
                depth_translated -= 1
            parts.append(_CODE)
        elif token.token_type == TokenType.TEXT and not (in_comment or in_code or depth_translated):
            parts.append(token.contents)
        else:
            parts.append(_CODE)
    return "".join(parts)


def _has_words(text: str) -> bool:
    words = re.findall(r"[^\W\d_][\w'-]*", _FILE_NAME.sub(" ", text.replace(_CODE, " ")))
    # A single letter is a key's label (<kbd>K</kbd>), the same on every keyboard.
    return any(len(word) > 1 and word.lower() not in ALLOWED_WORDS for word in words)


def unmarked_texts(source: str) -> list[str]:
    text = _SCRIPT_OR_STYLE.sub(_CODE, template_text(source))
    found = [
        f'{name}="{value.replace(_CODE, "…").strip()}"'
        for name, _quote, value in _HUMAN_ATTRIBUTE.findall(text)
        if _has_words(value)
    ]
    for chunk in _ENTITY.sub(" ", _TAG.sub(_CODE, text)).split(_CODE):
        if _has_words(chunk):
            found.append(" ".join(chunk.split()))
    return found


def _templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))


def test_the_check_sees_unmarked_text_and_human_attributes():
    assert unmarked_texts("<p>Hello</p>") == ["Hello"]
    assert unmarked_texts('<a title="Open it" href="/x/">{% translate "Go" %}</a>') == [
        'title="Open it"'
    ]
    assert unmarked_texts('<button aria-label="Close {{ x }}">X</button>') == [
        'aria-label="Close …"'
    ]
    assert unmarked_texts("{% blocktranslate trimmed %}Hi {{ name }}{% endblocktranslate %}") == []
    assert unmarked_texts('<a class="nav primary" href="{% url "x" %}">aiportal</a>') == []
    assert unmarked_texts("<script>let a = 'text';</script><style>a{color:red}</style>") == []
    assert unmarked_texts("<code>OpenAI(api_key)</code> <strong>profile.json</strong>") == []
    assert unmarked_texts("{% comment %}Why{% endcomment %}{# note #}&nbsp;·  — 42") == []
    assert unmarked_texts("{% block title %}Preferences · aiportal{% endblock %}") == [
        "Preferences · aiportal"
    ]


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_text_of_the_template_is_marked_for_translation(path):
    assert unmarked_texts(path.read_text()) == []
