"""bench/probe_cost.py runs end to end on a tiny pool, so that it cannot rot (the figures
are read by hand from a real run, docs/gateway/pool.md, not here)."""

from __future__ import annotations

import re

from tests.bench.support import bench_run

ROW = re.compile(r"^(?P<what>[a-z(), ]+?)\s+(?P<cpu>[\d.]+)\s+(?P<wall>[\d.]+)\s+[\d.]+ %$", re.M)


def test_the_probe_bench_measures_the_prober_and_both_clients():
    result = bench_run("probe_cost.py", "--workers", "1", "--cycles", "5")
    rows = {row["what"]: row for row in ROW.finditer(result.stdout)}
    assert set(rows) == {
        "the prober (parse included)",
        "its two reads, aiohttp",
        "its two reads, httpx",
    }, result.stdout
    for row in rows.values():
        assert float(row["cpu"]) > 0 and float(row["wall"]) > 0, result.stdout
