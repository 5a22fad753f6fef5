"""A saved prompt's body and its ``{{variables}}`` (docs/chat.md, "Prompt library").

The syntax, in full:

- ``{{name}}`` is a variable; the person fills it in before the text is inserted. A name is a
  letter or ``_`` then up to 39 letters, digits or ``_`` (any script: ``{{langue}}``,
  ``{{言語}}``); spaces inside the braces are ignored (``{{ name }}``).
- ``{{name|default}}`` gives it a default, filled in for the person to keep or change. The
  default runs to the closing ``}}``, may not hold a brace or a line break, and is trimmed;
  ``{{name|}}`` is an explicit empty default (the field may then be left empty), while a
  variable without ``|`` must be filled.
- A name used twice is one variable, filled once, inserted at every place; the first default
  given for it wins.
- Anything else stays as written: ``{{`` without its ``}}``, ``{{ 1 + 1 }}``, ``{{}}``, single
  braces. So does everything inside Markdown code: a fenced block (from a line's ```` ``` ````
  to the next, or to the end) and an inline code span (`` `…` `` on one line), so a prompt can
  quote a Jinja or Handlebars template without its braces becoming fields.

``template_parse`` is the one parser: the page's live preview and the composer both receive
its result from the server (``parts`` and ``variables``), so nothing parses it twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME_MAX = 40
_VARIABLE = re.compile(
    r"\{\{\s*(?P<name>[^\W\d]\w{0,39})\s*(?:\|(?P<default>[^{}\n]*))?\}\}"
)  # 39: NAME_MAX - 1
# Fenced blocks first (a fence left open runs to the end), then inline spans on one line.
_CODE = re.compile(r"^[ \t]*```.*?(?:^[ \t]*```[^\n]*$|\Z)|`[^`\n]+`", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Variable:
    name: str
    # None: none given, the person must fill it; "" is an explicit empty default.
    default: str | None


@dataclass(frozen=True)
class Slot:
    """Where a variable's value goes in the text."""

    name: str


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Slot, ...]
    variables: tuple[Variable, ...]

    def as_json(self) -> dict[str, list[object]]:
        """What the page and the composer receive: text parts as strings, slots as
        ``{"var": name}``."""
        return {
            "parts": [part if isinstance(part, str) else {"var": part.name} for part in self.parts],
            "variables": [{"name": v.name, "default": v.default} for v in self.variables],
        }


def _plain_parts(text: str, found: dict[str, Variable]) -> list[str | Slot]:
    parts: list[str | Slot] = []
    at = 0
    for match in _VARIABLE.finditer(text):
        name, default = match["name"], match["default"]
        if name not in found or (found[name].default is None and default is not None):
            found[name] = Variable(name, None if default is None else default.strip())
        parts += [text[at : match.start()], Slot(name)]
        at = match.end()
    parts.append(text[at:])
    return parts


def template_parse(body: str) -> Template:
    """The body as literal text and variable slots, and its variables in order of first
    appearance (see the module's docstring for the syntax)."""
    found: dict[str, Variable] = {}
    raw: list[str | Slot] = []
    at = 0
    for code in _CODE.finditer(body):
        raw += _plain_parts(body[at : code.start()], found)
        raw.append(code.group())
        at = code.end()
    raw += _plain_parts(body[at:], found)
    # Neighbouring text merged, empty text dropped: one string between two slots.
    parts: list[str | Slot] = []
    for part in raw:
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        elif part != "":
            parts.append(part)
    return Template(parts=tuple(parts), variables=tuple(found.values()))


def template_fill(template: Template, values: dict[str, str]) -> str:
    """The text with each slot replaced by its value (its default when none is given)."""
    defaults = {v.name: v.default or "" for v in template.variables}
    return "".join(
        part if isinstance(part, str) else values.get(part.name, defaults[part.name])
        for part in template.parts
    )
