"""bench/soak.py runs end to end for a few seconds with a handful of sessions, so that it
cannot rot (its figures are read by hand from a real run: docs/operations.md)."""

from __future__ import annotations

import re

from tests.bench.support import bench_run


def figure(name: str, text: str) -> str:
    match = re.search(rf"^{re.escape(name)}: (.+)$", text, re.MULTILINE)
    assert match, f"no {name!r} in:\n{text}"
    return match.group(1)


def test_the_soak_runs_sessions_through_two_web_processes_and_checks_the_database(
    migrated_template,
):
    result = bench_run(
        "soak.py",
        *("--minutes", "0.1", "--sessions", "4", "--think", "0.2:0.5"),
        *("--webs", "2", "--workers", "1", "--answer-tokens", "8"),
        *("--tokens-per-second", "200"),
    )
    out = result.stdout
    assert "2 Daphne(s)" in out
    asked = int(figure("questions asked", out))
    assert asked >= 4  # each session asked at least once
    assert figure("answers complete", out).startswith(f"{asked} ")
    assert figure("5xx", out) == "0"
    assert figure("lost messages", out) == "0"
    assert "ws 101: 4" in figure("http statuses", out)
    ttft = [int(v) for v in figure("TTFT ms p50/p95/p99", out).split(" / ")]
    whole = [int(v) for v in figure("answer ms p50/p95/p99", out).split(" / ")]
    assert 0 < ttft[0] <= ttft[1] <= ttft[2]
    assert ttft[0] < whole[0]
    for web in (0, 1):
        start, end, peak = figure(f"web {web} RSS MB start/end/peak", out).split(" / ")
        assert 0 < float(start) <= float(peak) and float(end) <= float(peak)
    assert "load average" in out
