"""bench/redis_embedded.py runs end to end at a tiny size, so that it cannot rot (the figures
are read by hand from a real run, docs/gateway/proxy.md, not here)."""

from __future__ import annotations

import os
import re

from tests.bench.support import bench_run

OPS = {
    "lease acquire, guarded",
    "lease acquire",
    "lease renew",
    "in-flight counts",
    "leases released",
    "budget add",
    "one request",
}


def test_the_embedded_redis_bench_times_the_twins_fakeredis_and_redis() -> None:
    result = bench_run("redis_embedded.py", "--calls", "5", "--redis-url", os.environ["REDIS_URL"])
    header = next(line for line in result.stdout.splitlines() if line.startswith("calls/s"))
    # The twin's column needs the git history that holds it (a shallow clone has none).
    columns = re.findall(r"\S+(?: \S+)?", header.removeprefix("calls/s"))
    assert columns in (["python twin", "fakeredis lua", "redis"], ["fakeredis lua", "redis"])
    rows = {
        match["op"]: [float(n) for n in match["rates"].split()]
        for match in re.finditer(r"^(?P<op>[a-z ,-]+?)\s+(?P<rates>[\d ]+)$", result.stdout, re.M)
    }
    assert set(rows) == OPS, result.stdout
    assert all(len(rates) == len(columns) and min(rates) > 0 for rates in rows.values()), (
        result.stdout
    )
