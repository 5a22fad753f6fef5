"""Running a bench script from the checkout as a person would, for the tests that keep the
benches from rotting (their figures are read by hand from real runs, not here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def bench_run(script: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``bench/<script> ARGS``, which must exit 0 (its output is in the failure if not)."""
    assert os.environ.get("DATABASE_URL", "").startswith("postgres"), "run with ./dev test"
    result = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result
