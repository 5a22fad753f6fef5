"""locale/fr/LC_MESSAGES/django.po is complete and current: every string marked in the code
and templates is in it, nothing else is, and every entry is translated (no fuzzy, plural
forms right, placeholders intact)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.i18n.po import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
# What makemessages reads (accounts/management/commands/makemessages.py leaves the rest out).
SOURCES = [
    "manage.py",
    "aiportal",
    "accounts",
    "chat",
    "assistants",
    "datasets",
    "gateway",
    "common",
    "tools",
    "prompts",
    "retention",
    "scim",
    "templates",
]
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]|%%")


@pytest.fixture(scope="module")
def committed():
    return read_po(CATALOGUE)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """makemessages run on a copy of the sources, with the committed catalogue as its start
    (as a developer runs it), so that the committed file is left alone."""
    copy = tmp_path_factory.mktemp("i18n")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    (copy / CATALOGUE.relative_to(ROOT)).parent.mkdir(parents=True)
    shutil.copy2(CATALOGUE, copy / CATALOGUE.relative_to(ROOT))
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--no-obsolete", "-v", "0"],
        cwd=copy,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "aiportal.settings"},
        check=True,
        capture_output=True,
    )
    return read_po(copy / CATALOGUE.relative_to(ROOT))


def _describe(keys) -> str:
    return "\n".join(
        f"  {ctx + ' | ' if ctx else ''}{msgid!r}"
        for ctx, msgid in sorted(keys, key=lambda k: (k[0] or "", k[1]))
    )


def test_every_marked_string_is_in_the_catalogue_and_nothing_else(committed, regenerated):
    _, mine = committed
    _, fresh = regenerated
    have, want = {e.key for e in mine}, {e.key for e in fresh}
    assert not want - have, (
        "marked but missing from django.po (run manage.py makemessages -l fr --no-obsolete "
        "and translate):\n" + _describe(want - have)
    )
    assert not have - want, "in django.po but no longer marked:\n" + _describe(have - want)
    plurals = {e.key: e.plural for e in fresh}
    assert {e.key: e.plural for e in mine} == plurals


def test_every_entry_is_translated_with_french_plurals(committed):
    header, entries = committed
    assert header["Language"] == "fr"
    assert header["Plural-Forms"] == "nplurals=2; plural=(n > 1);"
    problems = []
    for entry in entries:
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        expected = ["msgstr[0]", "msgstr[1]"] if entry.plural else ["msgstr"]
        if sorted(entry.translations) != expected:
            problems.append(f"forms {sorted(entry.translations)}: {entry.msgid!r}")
        if not all(text.strip() for text in entry.translations.values()):
            problems.append(f"untranslated: {entry.msgid!r}")
    assert not problems, "\n".join(problems)


def test_translations_keep_the_placeholders(committed):
    """A placeholder lost or renamed is a KeyError, or a value missing, on the French page.
    French singular forms may leave the count out ("dans la minute qui suit")."""
    _, entries = committed
    problems = []
    for entry in entries:
        source = set(_PLACEHOLDER.findall(entry.plural or entry.msgid))
        for form, text in entry.translations.items():
            found = set(_PLACEHOLDER.findall(text))
            if form == "msgstr[0]" and entry.plural:
                ok = found <= source | set(_PLACEHOLDER.findall(entry.msgid))
            else:
                ok = found == source
            if not ok:
                problems.append(f"{form} of {entry.msgid!r}: {sorted(found)} != {sorted(source)}")
    assert not problems, "\n".join(problems)


def test_the_compiled_catalogue_is_current():
    """The pages read the .mo that ./dev compiles (it is not committed): a stale one would
    show English where the .po has French."""
    compiled = CATALOGUE.with_suffix(".mo")
    assert compiled.exists(), "run: ./dev manage compilemessages"
    assert compiled.stat().st_mtime >= CATALOGUE.stat().st_mtime, (
        "django.mo is older than django.po: run ./dev manage compilemessages"
    )
