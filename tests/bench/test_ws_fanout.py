"""bench/ws_fanout.py runs end to end at a tiny level, so that it cannot rot (its figures
are read by hand from a real run, not here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ROW = re.compile(
    r"^\s+2\s+(?P<rate>[\d.]+)\s+[\d.]+m\s+[\d.]+m\s+(?P<emu>[\d.]+)m\s+(?P<ws>[\d.]+)m\s+(?P<added>-?[\d.]+)m"
    r"\s+(?P<per_delta>[\d.]+)\s+(?P<cpu>[\d.]+)\s+(?P<answers>\d+)\s+(?P<errors>\d+)$",
    re.MULTILINE,
)


def test_the_fanout_bench_streams_through_daphne_and_prints_its_figures():
    assert os.environ.get("DATABASE_URL", "").startswith("postgres"), "run with ./dev test"
    result = subprocess.run(
        [
            sys.executable,
            "bench/ws_fanout.py",
            *("--levels", "2", "--seconds", "2", "--workers", "1"),
            *("--answer-tokens", "20", "--tokens-per-second", "40"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    row = ROW.search(result.stdout)
    assert row, result.stdout
    assert int(row["errors"]) == 0, result.stdout
    assert int(row["answers"]) >= 2
    assert float(row["rate"]) > 0
    assert float(row["emu"]) > 0 and float(row["ws"]) > 0
    assert float(row["cpu"]) > 0
    assert "largest N with added ITL p99 < 50 ms" in result.stdout
