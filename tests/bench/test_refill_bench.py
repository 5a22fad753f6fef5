"""bench/refill.py runs end to end at a tiny size (its figures are for people, not tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_refill_bench_runs_and_reuses_what_did_not_change(migrated_template):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.refill",
            *("--docs", "20", "--doc-kb", "2", "--changed", "0.1"),
            *("--search-chunks", "500", "--queries", "10"),
        ],
        cwd=ROOT,
        env={**os.environ, "AIPORTAL_DB_POOL": "false"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "first refill:" in out and "documents/s" in out
    assert "reused 20, added 0" in out  # nothing changed: nothing stored again
    assert "10% changed refill" in out and "added 2, reused 18" in out
    assert "search over 500 chunks" in out and "p95" in out
