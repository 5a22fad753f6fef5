"""docs/architecture.md is where a newcomer looks for the file that does a thing: every file or
folder it names must exist, so a move that forgets the page fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
# A backticked path: a folder ending in "/" or a file with an extension ("pool.js", "sso/").
PATH = re.compile(r"`((?:[a-z_]+/)*[a-z_]+(?:\.(?:py|js|css|html|md|toml)|/))`")
# Names given relative to the package the row or sentence is about.
PACKAGES = (
    "",
    "gateway/",
    "chat/",
    "datasets/",
    "accounts/",
    "common/",
    "aiportal/",
    "docs/",
    "retention/",
    "scim/",
    "assistants/",
    "prompts/",
    "tools/",
)


def _named_paths() -> list[str]:
    return sorted(set(PATH.findall(DOC.read_text())))


def test_the_page_names_many_paths():
    # The pattern must keep finding the paths, or the test below checks nothing.
    assert len(_named_paths()) > 100


def _exists(name: str) -> bool:
    if "/" in name.rstrip("/"):
        return any((ROOT / prefix / name).exists() for prefix in PACKAGES)
    # A bare file name, in a row or sentence about its folder ("`fields.py`" under api/).
    return any(
        ".venv" not in found.parts and "node_modules" not in found.parts
        for found in ROOT.rglob(name)
    )


def test_every_path_the_page_names_exists():
    assert [name for name in _named_paths() if not _exists(name)] == []
