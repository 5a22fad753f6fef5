"""Import and export of one's prompts as JSON (docs/chat.md, "Prompt library").

The file, version 1::

    {"format": "aiportal.prompts", "version": 1,
     "prompts": [{"command": "summary", "title": "Summarise", "description": "",
                  "body": "Summarise this in {{language|French}}:"}]}

An export holds the person's own prompts (groups are this portal's, so they are not in it).
An import reads ``version`` and ``prompts`` (``format`` may be left out; unknown keys are
ignored) and is all or nothing:

- a file that is not such a document (not UTF-8 JSON, no ``"version": 1``, no ``prompts``
  list, too large, too many entries) is refused as a whole;
- every entry is checked like a prompt typed on the page; if any entry is wrong (a missing
  field, a bad command, the same command twice in the file), nothing is imported and the
  report lists each entry's problem;
- an entry whose command one of the person's prompts already has is skipped, or replaces
  that prompt's title, description and text when the person asks for it (``replace``); its
  sharing is kept. The report says which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import User
from prompts.models import SavedPrompt
from prompts.selectors import prompt_list_own
from prompts.validation import command_clean, prompt_fields_check

FORMAT = "aiportal.prompts"
VERSION = 1
FILE_MAX_BYTES = 1_048_576
ENTRIES_MAX = 500
FIELDS = ("command", "title", "description", "body")


class ImportRefused(ValueError):
    """The file as a whole cannot be read as prompts; ``str(exc)`` says why."""


@dataclass
class EntryReport:
    number: int  # 1-based, as a person counts
    command: str
    title: str
    outcome: str = "created"  # created | replaced | skipped | invalid
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    imported: bool
    entries: list[EntryReport]

    def count(self, outcome: str) -> int:
        return sum(entry.outcome == outcome for entry in self.entries)


def prompts_export(*, user: User) -> dict[str, Any]:
    """The person's own prompts as a version 1 document."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "prompts": [
            {name: getattr(prompt, name) for name in FIELDS}
            for prompt in prompt_list_own(user=user)
        ],
    }


def prompts_export_json(*, user: User) -> str:
    return json.dumps(prompts_export(user=user), indent=2, ensure_ascii=False)


def prompts_document_read(raw: bytes) -> list[Any]:
    """The entries of a version 1 file, unchecked; ``ImportRefused`` for anything else."""
    if len(raw) > FILE_MAX_BYTES:
        raise ImportRefused(
            _("The file is larger than %(count)d bytes.") % {"count": FILE_MAX_BYTES}
        )
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ImportRefused(_("The file is not JSON (UTF-8).")) from None
    if not isinstance(document, dict) or "prompts" not in document:
        raise ImportRefused(
            _('The file is not a prompt library: expected {"version": 1, "prompts": [...]}.')
        )
    if document.get("format", FORMAT) != FORMAT:
        raise ImportRefused(_("The file is not a prompt library (its format is another)."))
    if document.get("version") != VERSION:
        raise ImportRefused(
            _("This file's version is not supported: only version %(version)d is.")
            % {"version": VERSION}
        )
    entries = document["prompts"]
    if not isinstance(entries, list):
        raise ImportRefused(_('"prompts" must be a list.'))
    if len(entries) > ENTRIES_MAX:
        raise ImportRefused(_("A file holds at most %(count)d prompts.") % {"count": ENTRIES_MAX})
    return entries


def _entry_check(number: int, entry: Any, seen: set[str]) -> tuple[EntryReport, dict[str, str]]:
    if not isinstance(entry, dict):
        report = EntryReport(number=number, command="", title="", outcome="invalid")
        report.errors["entry"] = _("Each prompt must be an object with a title, command and body.")
        return report, {}
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        value = entry.get(name, "" if name == "description" else None)
        if not isinstance(value, str):
            errors[name] = _("Missing, or not text.")
            value = ""
        values[name] = value
    values["command"] = command_clean(values["command"])
    values["title"] = values["title"].strip()
    values["description"] = values["description"].strip()
    for name, why in prompt_fields_check(**values).items():
        errors.setdefault(name, why)
    if "command" not in errors and values["command"] in seen:
        errors["command"] = _("The file has /%(command)s twice.") % {"command": values["command"]}
    seen.add(values["command"])
    report = EntryReport(number=number, command=values["command"], title=values["title"][:200])
    if errors:
        report.outcome, report.errors = "invalid", errors
    return report, values


def prompt_import(*, user: User, raw: bytes, replace: bool = False) -> ImportReport:
    """Import a file of prompts for ``user`` (see the module's docstring). ``ImportRefused``
    for a file that is not one; otherwise the report, with ``imported`` false and nothing
    written when an entry is wrong."""
    entries = prompts_document_read(raw)
    seen: set[str] = set()
    checked = [_entry_check(number, entry, seen) for number, entry in enumerate(entries, 1)]
    reports = [report for report, _values in checked]
    if any(report.outcome == "invalid" for report in reports):
        return ImportReport(imported=False, entries=reports)
    try:
        with transaction.atomic():
            _write(user, checked, replace=replace)
    except IntegrityError:  # a prompt with one of these commands was saved meanwhile
        raise ImportRefused(
            _("A prompt with one of these commands was saved meanwhile: import the file again.")
        ) from None
    return ImportReport(imported=True, entries=[report for report, _values in checked])


def _write(user: User, checked: list[tuple[EntryReport, dict[str, str]]], *, replace: bool) -> None:
    # Lock the person's prompts: a second import at once waits, then sees these.
    mine = {p.command: p for p in SavedPrompt.objects.select_for_update().filter(owner=user)}
    for report, values in checked:
        existing = mine.get(values["command"])
        if existing is None:
            SavedPrompt.objects.create(owner=user, **values)
        elif replace:
            for name in ("title", "description", "body"):
                setattr(existing, name, values[name])
            existing.save()
            report.outcome = "replaced"
        else:
            report.outcome = "skipped"
            report.errors["command"] = _("You already have /%(command)s: kept yours.") % {
                "command": values["command"]
            }
