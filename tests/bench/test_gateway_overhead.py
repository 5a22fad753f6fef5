"""bench/gateway_overhead.py runs end to end at a tiny level, so that it cannot rot: direct,
the proxy core and aiportal's /v1 on Daphne each stream and print a row (the figures are read
by hand from a real run, docs/gateway/proxy.md, not here)."""

from __future__ import annotations

import os
import re

from tests.bench.support import bench_run

ROW = re.compile(
    r"^(?P<name>direct|core|aiportal)\s+(?P<p50>[\d.]+)m\s+(?P<p99>[\d.]+)m\s+-?[\d.]+m\s+"
    r"-?[\d.]+m\s+(?P<itl>[\d.]+)m\s+(?P<rate>\d+)\s+(?P<ratio>[\d.]+)\s+(?P<cpu>[\d.]+|-)"
    r"\s+(?P<errors>\d+)$",
    re.MULTILINE,
)


def test_the_overhead_bench_streams_direct_through_the_core_and_through_v1():
    result = bench_run(
        "gateway_overhead.py",
        *("--levels", "2", "--seconds", "1", "--warmup", "0.5", "--workers", "1"),
        *("--answer-tokens", "10", "--targets", "core,aiportal"),
        *("--database-url", os.environ.get("DATABASE_URL", "")),
    )
    rows = {row["name"]: row for row in ROW.finditer(result.stdout)}
    assert set(rows) == {"direct", "core", "aiportal"}, result.stdout
    for row in rows.values():
        assert int(row["errors"]) == 0, result.stdout
        assert int(row["rate"]) > 0, result.stdout
        assert float(row["p50"]) > 0 and float(row["itl"]) > 0, result.stdout
    assert float(rows["direct"]["ratio"]) == 1.0
    for name in ("core", "aiportal"):  # the proxy's own CPU was read
        assert float(rows[name]["cpu"]) > 0, result.stdout
        assert 0 < float(rows[name]["ratio"]) <= 1.5, result.stdout
