"""bench/ws_fanout.py runs end to end at a tiny level, so that it cannot rot (its figures
are read by hand from a real run, not here)."""

from __future__ import annotations

import re

from tests.bench.support import bench_run

ROW = re.compile(
    r"^\s+2\s+(?P<rate>[\d.]+)\s+[\d.]+m\s+[\d.]+m\s+(?P<emu>[\d.]+)m\s+(?P<ws>[\d.]+)m\s+(?P<added>-?[\d.]+)m"
    r"\s+(?P<per_delta>[\d.]+)\s+(?P<cpu>[\d.]+)\s+(?P<answers>\d+)\s+(?P<errors>\d+)$",
    re.MULTILINE,
)


def test_the_fanout_bench_streams_through_daphne_and_prints_its_figures():
    result = bench_run(
        "ws_fanout.py",
        *("--levels", "2", "--seconds", "2", "--workers", "1"),
        *("--answer-tokens", "20", "--tokens-per-second", "40"),
    )
    row = ROW.search(result.stdout)
    assert row, result.stdout
    assert int(row["errors"]) == 0, result.stdout
    assert int(row["answers"]) >= 2
    assert float(row["rate"]) > 0
    assert float(row["emu"]) > 0 and float(row["ws"]) > 0
    assert float(row["cpu"]) > 0
    assert "largest N with added ITL p99 < 50 ms" in result.stdout
