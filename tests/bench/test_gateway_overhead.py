"""bench/gateway_overhead.py runs end to end at a tiny level, so that it cannot rot: direct,
Caddy's reverse_proxy, the proxy core and aiportal's /v1 on Daphne each stream and print a row
(the figures are read by hand from a real run, docs/gateway/proxy.md, not here)."""

from __future__ import annotations

import contextlib
import io
import os
import re

from bench.gateway_overhead import Sample, report
from tests.bench.support import bench_run

ROW = re.compile(
    r"^(?P<name>direct|caddy|core|aiportal)\s+(?P<p50>[\d.]+)m\s+(?P<p99>[\d.]+)m\s+"
    r"-?[\d.]+m\s+-?[\d.]+m\s+(?P<itl>[\d.]+)m\s+(?P<rate>\d+)\s+(?P<ratio>[\d.]+)\s+"
    r"(?P<cpu>[\d.]+|-)\s+(?P<times>[\d.]+|-)\s+(?P<errors>\d+)$",
    re.MULTILINE,
)


def test_the_overhead_bench_streams_direct_through_caddy_the_core_and_v1(migrated_template):
    result = bench_run(
        "gateway_overhead.py",
        *("--levels", "2", "--seconds", "1", "--warmup", "0.5", "--workers", "1"),
        *("--answer-tokens", "10", "--targets", "caddy,core,aiportal"),
        *("--database-url", os.environ.get("DATABASE_URL", "")),
    )
    rows = {row["name"]: row for row in ROW.finditer(result.stdout)}
    assert set(rows) == {"direct", "caddy", "core", "aiportal"}, result.stdout
    for row in rows.values():
        assert int(row["errors"]) == 0, result.stdout
        assert int(row["rate"]) > 0, result.stdout
        assert float(row["p50"]) > 0 and float(row["itl"]) > 0, result.stdout
    assert float(rows["direct"]["ratio"]) == 1.0
    for name in ("core", "aiportal"):  # the proxy's own CPU was read
        assert float(rows[name]["cpu"]) > 0, result.stdout
    for name in ("caddy", "core", "aiportal"):
        assert 0 < float(rows[name]["ratio"]) <= 1.5, result.stdout
    # Caddy spends well under one clock tick (10 ms) on a run this small: its CPU reads 0 and
    # no multiple of it is printed. The column's arithmetic is tested below.
    assert rows["direct"]["times"] == "-", result.stdout


def _sample(cpu: float | None, tokens: int) -> Sample:
    return Sample(ttft=[0.03], itl=[0.02], tokens=tokens, wall=1.0, cpu=cpu)


def _times_column(results: dict[str, Sample]) -> dict[str, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report(16, results)
    return {
        line.split()[0]: line.split()[-2]
        for line in out.getvalue().splitlines()
        if line.split() and line.split()[0] in results
    }


def test_each_proxys_cpu_per_token_is_printed_as_a_multiple_of_caddys():
    times = _times_column(
        {
            "direct": _sample(None, 1000),
            "caddy": _sample(0.2, 1000),
            "aiportal": _sample(0.6, 2000),  # 0.3 s per 1k tokens: 1.5 x Caddy's 0.2
            "litellm": _sample(None, 1000),  # its CPU could not be read
        }
    )
    assert times == {"direct": "-", "caddy": "1.00", "aiportal": "1.50", "litellm": "-"}


def test_no_multiple_is_printed_when_caddys_cpu_is_zero_or_it_did_not_run():
    with_zero = {"direct": _sample(None, 10), "caddy": _sample(0.0, 10), "core": _sample(0.1, 10)}
    assert _times_column(with_zero)["core"] == "-"
    assert _times_column({"direct": _sample(None, 10), "core": _sample(0.1, 10)})["core"] == "-"
