"""bench/retrieval_scale.py runs end to end at a tiny size on the embedded default's SQLite
(its figures are for people, not tests; tests/datasets/test_vectors_backends.py covers
pgvector)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_scale_bench_measures_every_method_and_an_unchanged_refill_embeds_nothing(
    migrated_sqlite,
):
    result = subprocess.run(
        [
            sys.executable,
            *("-m", "bench.retrieval_scale", "--backends", "sqlite", "--sizes", "400"),
            *("--queries", "5", "--refill-docs", "4", "--json"),
        ],
        cwd=ROOT,
        # It starts from the run's migrated SQLite file (tests/conftest.py).
        env={**os.environ, "AIPORTAL_BENCH_SQLITE_TEMPLATE": str(migrated_sqlite)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])["sqlite"]["400"]
    assert figures["backend"] == "sqlite" and figures["chunks"] == 400
    for method in ("vector_ranking", "vector", "hybrid", "fulltext"):
        assert 0 < figures[method]["p50_ms"] <= figures[method]["p95_ms"]
    refill = figures["refill"]
    assert refill["chunks_embedded"] > 0 and refill["embedding_requests"] >= 1
    assert refill["unchanged_embedding_requests"] == 0 and refill["unchanged_embedded"] == 0
    assert "vector: p50" in result.stdout and "unchanged: 0 embedding requests" in result.stdout
