"""A small reader of gettext .po files, enough for the catalogue's tests: each entry's
context, msgid, plural msgid, translations and flags."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(\".*\")\s*$")


@dataclass
class Entry:
    context: str | None = None
    msgid: str = ""
    plural: str | None = None
    translations: dict[str, str] = field(default_factory=dict)  # msgstr / msgstr[n] → text
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.context, self.msgid)


def _string(quoted: str) -> str:
    # A .po string is a C string in double quotes: Python's literal syntax reads it.
    return ast.literal_eval(quoted)


def read_po(path: Path) -> tuple[dict[str, str], list[Entry]]:
    """The header's fields and the entries (obsolete ``#~`` ones left out)."""
    entries: list[Entry] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry, current, fields = Entry(), None, {}
        for line in block.splitlines():
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif match := _KEYWORD.match(line):
                current = match.group(1)
                fields[current] = _string(match.group(2))
            elif line.startswith('"') and current:
                fields[current] += _string(line)
        if "msgid" not in fields:
            continue
        entry.context = fields.get("msgctxt")
        entry.msgid = fields["msgid"]
        entry.plural = fields.get("msgid_plural")
        entry.translations = {k: v for k, v in fields.items() if k.startswith("msgstr")}
        entries.append(entry)
    header_entry = next(e for e in entries if e.msgid == "" and e.context is None)
    header = dict(
        line.split(": ", 1) for line in header_entry.translations["msgstr"].splitlines() if line
    )
    return header, [e for e in entries if e is not header_entry]
