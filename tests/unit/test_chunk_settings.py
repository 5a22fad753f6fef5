"""The chunk size settings: tokens, validated at start-up, the old character names still
read (converted, with a warning that names the new ones). Each case is a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.unit.test_settings import GOOD_KEY, ROOT

PRINT = """
# Reading a setting imports aiportal.settings, where every check runs; django.setup() would
# load every app as well (about 2.5 s more a case) and check nothing more about them.
import json
from django.conf import settings
print(json.dumps([
    settings.AIPORTAL_DATASET_CHUNK_TOKENS,
    settings.AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS,
    settings.AIPORTAL_DATASET_CHUNK_CHARS,
    settings.AIPORTAL_DATASET_CHUNK_OVERLAP,
]))
"""


def _run(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIPORTAL_", "DEBUG"))}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SECRET_KEY_FILE"):
        base.pop(name, None)
    base.update(
        DJANGO_SETTINGS_MODULE="aiportal.settings",
        SECRET_KEY=GOOD_KEY,
        AIPORTAL_DATA_DIR=str(tmp_path),
    )
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_chunks_are_sized_in_tokens_by_default(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    # The character settings remain, as the tokens' character equivalents (4 a token).
    assert json.loads(result.stdout) == [192, 24, 768, 96]
    assert "deprecated" not in result.stderr


def test_the_token_settings_are_read_and_validated(tmp_path):
    result = _run(
        tmp_path,
        AIPORTAL_DATASET_CHUNK_TOKENS="300",
        AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS="40",
    )
    assert json.loads(result.stdout) == [300, 40, 1200, 160]
    too_much = _run(
        tmp_path,
        AIPORTAL_DATASET_CHUNK_TOKENS="100",
        AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS="60",
    )
    assert too_much.returncode != 0
    assert (
        "AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS must be at most half of "
        "AIPORTAL_DATASET_CHUNK_TOKENS"
    ) in too_much.stderr
    tiny = _run(tmp_path, AIPORTAL_DATASET_CHUNK_TOKENS="5")
    assert tiny.returncode != 0
    assert "AIPORTAL_DATASET_CHUNK_TOKENS must be at least 25, not 5" in tiny.stderr


def test_the_old_character_settings_are_converted_with_a_warning_naming_the_new_ones(tmp_path):
    result = _run(
        tmp_path, AIPORTAL_DATASET_CHUNK_CHARS="800", AIPORTAL_DATASET_CHUNK_OVERLAP="100"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [200, 25, 800, 100]
    assert (
        "AIPORTAL_DATASET_CHUNK_CHARS is deprecated: set AIPORTAL_DATASET_CHUNK_TOKENS "
        "(in tokens) instead" in result.stderr
    )
    assert "AIPORTAL_DATASET_CHUNK_OVERLAP is deprecated" in result.stderr
    # When both are set, the token setting wins, and the warning says so.
    both = _run(tmp_path, AIPORTAL_DATASET_CHUNK_CHARS="800", AIPORTAL_DATASET_CHUNK_TOKENS="128")
    assert json.loads(both.stdout)[0] == 128
    assert "AIPORTAL_DATASET_CHUNK_TOKENS is set and wins" in both.stderr
