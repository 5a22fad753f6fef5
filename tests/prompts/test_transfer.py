"""Import and export of one's prompts (prompts/transfer.py): a round trip keeps every field,
a malformed file imports nothing and says why, a bad entry imports nothing and the report
names it, and a command one already has is skipped or replaced, as asked."""

from __future__ import annotations

import json

import pytest

from prompts.models import SavedPrompt
from prompts.services import prompt_create
from prompts.transfer import (
    ENTRIES_MAX,
    FILE_MAX_BYTES,
    ImportRefused,
    prompt_import,
    prompts_export_json,
)

pytestmark = pytest.mark.django_db


def _file(*prompts, **top) -> bytes:
    return json.dumps({"version": 1, "prompts": list(prompts), **top}).encode()


def _entry(command: str, **fields) -> dict:
    return {"command": command, "title": f"Title {command}", "body": "Text", **fields}


def test_an_export_imports_again_as_it_was(owner, member, team):
    prompt_create(
        user=owner,
        title="Translate",
        command="translate",
        body="Into {{language|French}}:\n```\n{{ kept }}\n```",
        description="Any text, any language",
        groups=[team.pk],
    )
    prompt_create(user=owner, title="Ünïcode ✓", command="uni", body="Café ☕")
    exported = prompts_export_json(user=owner)
    report = prompt_import(user=member, raw=exported.encode())
    assert report.imported and [e.outcome for e in report.entries] == ["created", "created"]
    fields = ("command", "title", "description", "body")
    mine = list(SavedPrompt.objects.filter(owner=owner).order_by("command").values(*fields))
    theirs = list(SavedPrompt.objects.filter(owner=member).order_by("command").values(*fields))
    assert mine == theirs
    # Sharing is this portal's, not the file's: the imported ones are private.
    assert not SavedPrompt.objects.filter(owner=member, groups__isnull=False).exists()
    assert json.loads(exported)["format"] == "aiportal.prompts"


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b"\xff\xfe not utf-8", "not JSON"),
        (b"{ not json", "not JSON"),
        (b"[]", "not a prompt library"),
        (json.dumps({"version": 1}).encode(), "not a prompt library"),
        (json.dumps({"version": 2, "prompts": []}).encode(), "only version 1"),
        (json.dumps({"prompts": []}).encode(), "only version 1"),
        (json.dumps({"version": 1, "prompts": {"a": 1}}).encode(), "must be a list"),
        (_file(format="something.else"), "format is another"),
        (_file(*[_entry(f"c{i}") for i in range(ENTRIES_MAX + 1)]), "at most 500"),
        (b" " * (FILE_MAX_BYTES + 1), "larger than"),
    ],
)
def test_a_malformed_file_imports_nothing_and_says_why(owner, raw, said):
    with pytest.raises(ImportRefused) as caught:
        prompt_import(user=owner, raw=raw)
    assert said in str(caught.value)
    assert not SavedPrompt.objects.exists()


def test_one_bad_entry_imports_nothing_and_each_problem_is_reported(owner):
    raw = _file(
        _entry("good"),
        _entry("Bad Command"),
        "not an object",
        {"command": "nobody"},
        _entry("good", title="Twice"),
        _entry("empty", body="   "),
    )
    report = prompt_import(user=owner, raw=raw)
    assert not report.imported
    outcomes = [(e.number, e.outcome, sorted(e.errors)) for e in report.entries]
    assert outcomes == [
        (1, "created", []),
        (2, "invalid", ["command"]),
        (3, "invalid", ["entry"]),
        (4, "invalid", ["body", "title"]),
        (5, "invalid", ["command"]),
        (6, "invalid", ["body"]),
    ]
    assert "twice" in report.entries[4].errors["command"]
    assert not SavedPrompt.objects.exists()


def test_a_command_one_has_is_skipped_or_replaced_as_asked(owner, team):
    kept = prompt_create(user=owner, title="Mine", command="reply", body="Old", groups=[team.pk])
    raw = _file(_entry("reply", title="Theirs", body="New"), _entry("fresh"))
    report = prompt_import(user=owner, raw=raw)
    assert [e.outcome for e in report.entries] == ["skipped", "created"]
    assert "kept yours" in report.entries[0].errors["command"]
    kept.refresh_from_db()
    assert (kept.title, kept.body) == ("Mine", "Old")

    report = prompt_import(user=owner, raw=raw, replace=True)
    assert [e.outcome for e in report.entries] == ["replaced", "replaced"]
    kept.refresh_from_db()
    assert (kept.title, kept.body) == ("Theirs", "New")
    assert list(kept.groups.all()) == [team]  # its sharing stays
    assert SavedPrompt.objects.filter(owner=owner).count() == 2


def test_commands_are_cleaned_and_unknown_keys_ignored_on_import(owner):
    raw = _file(_entry("/Shout", groups=[1, 2], id=99, description="  spaced  "))
    report = prompt_import(user=owner, raw=raw)
    assert report.imported
    prompt = SavedPrompt.objects.get()
    assert (prompt.command, prompt.description) == ("shout", "spaced")


def test_a_command_saved_meanwhile_refuses_the_import_and_writes_nothing(owner, monkeypatch):
    from django.db import IntegrityError

    from prompts import transfer

    real_write = transfer._write

    def write_then_collide(user, checked, *, replace):
        real_write(user, checked, replace=replace)
        raise IntegrityError("prompts_command_unique_per_owner")

    monkeypatch.setattr(transfer, "_write", write_then_collide)
    with pytest.raises(ImportRefused, match="saved meanwhile"):
        prompt_import(user=owner, raw=_file(_entry("one"), _entry("two")))
    assert not SavedPrompt.objects.exists()
