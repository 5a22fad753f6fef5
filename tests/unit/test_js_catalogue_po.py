"""locale/fr/LC_MESSAGES/djangojs.po is what makemessages makes of the scripts today, and
every entry of it is translated: a string added, changed or removed in static/**/*.js
without updating the catalogue fails here (docs/development.md says how to update it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "djangojs.po"
# The command of docs/development.md, which wrote the committed file (its ignores, which the
# project's makemessages adds by itself, spelled out for Django's own, run here).
MAKEMESSAGES = [
    "makemessages", "-d", "djangojs", "-l", "fr", "--no-obsolete", "--add-location=file",
    "--ignore=node_modules", "--ignore=static/vendor", "--ignore=staticfiles",
]  # fmt: skip
# makemessages writes into settings.LOCALE_PATHS: a settings module of its own points it
# at the copy, never at the committed file.
SETTINGS = 'SECRET_KEY = "catalogue-check-only"\nUSE_I18N = True\nLOCALE_PATHS = ["locale"]\n'


def without_creation_date(text: str) -> str:
    return re.sub(r'"POT-Creation-Date: [^"]*"\n', "", text)


def test_the_french_catalogue_is_what_makemessages_makes_of_the_scripts(tmp_path):
    shutil.copytree(ROOT / "static", tmp_path / "static", ignore=shutil.ignore_patterns("vendor"))
    (tmp_path / "locale" / "fr" / "LC_MESSAGES").mkdir(parents=True)
    fresh = tmp_path / "locale" / "fr" / "LC_MESSAGES" / "djangojs.po"
    shutil.copy(PO, fresh)
    (tmp_path / "catalogue_settings.py").write_text(SETTINGS)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "catalogue_settings",
    }
    subprocess.run(
        [sys.executable, "-m", "django", *MAKEMESSAGES], cwd=tmp_path, env=env, check=True
    )
    assert without_creation_date(fresh.read_text()) == without_creation_date(PO.read_text()), (
        "djangojs.po is out of date: run the makemessages command in docs/development.md "
        "and translate what it added"
    )


def entries() -> list[dict[str, str]]:
    """The entries after the header, each as {"msgid": ..., "msgstr[0]": ...}, the
    continuation lines of a long string joined."""
    found = []
    for block in re.split(r"\n\n", PO.read_text(encoding="utf-8").strip())[1:]:
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if match := re.match(r'(msgid_plural|msgid|msgstr(?:\[\d\])?) "(.*)"$', line):
                key = match[1]
                fields[key] = match[2]
            elif line.startswith('"'):
                fields[key] += line[1:-1]
        found.append(fields)
    return found


def test_every_entry_is_translated_and_none_is_fuzzy():
    text = PO.read_text(encoding="utf-8")
    assert "#, fuzzy" not in text
    assert '"Plural-Forms: nplurals=2; plural=(n > 1);\\n"' in text
    # msgfmt --check: placeholders and plural forms agree with the header; the statistics
    # count what is left untranslated or fuzzy.
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", os.devnull, str(PO)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.fullmatch(r"\d+ translated messages\.\n", result.stderr), result.stderr
    for entry in entries():
        translations = [value for key, value in entry.items() if key.startswith("msgstr")]
        assert translations and all(translations), f"untranslated: {entry}"
        if "msgid_plural" in entry:  # French has two forms
            assert {"msgstr[0]", "msgstr[1]"} <= entry.keys(), entry
    assert len(entries()) > 150  # every string of the scripts, not a handful


def test_placeholders_survive_translation():
    # A translation that drops or renames %(seconds)s would show the raw placeholder.
    for entry in entries():
        source = entry["msgid"] + entry.get("msgid_plural", "")
        wanted = set(re.findall(r"%\(\w+\)s", source))
        for key, value in entry.items():
            if key.startswith("msgstr"):
                assert set(re.findall(r"%\(\w+\)s", value)) == wanted, entry
