"""Vector and hybrid search for real, on both databases a deployment runs: PostgreSQL with
pgvector (a pgserver instance started for the session: the suite's own server has no
pgvector) and the embedded default's SQLite with sqlite-vec. Each runs
tests/datasets/vectors_scenario.py in a fresh interpreter, as ./dev up or a deployment would,
against an emulated embedding worker of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.pgvector_server import pgvector_server
from tests.conftest import embedded_env, start_emulator

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "datasets" / "vectors_scenario.py"
HOOKS = "upload:hooks.txt"


@pytest.fixture(scope="module")
def embedder():
    process, url = start_emulator()
    yield url
    process.stop()


@pytest.fixture(scope="module")
def pg_database():
    with pgvector_server() as database:
        yield database()


def _run(tmp_path: Path, embedder: str, **extra: str) -> dict:
    env = embedded_env(tmp_path)
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DEBUG": "true",
            "AIPORTAL_WORKERS": f"{embedder}@test-a",
            "AIPORTAL_EMBEDDING_MODEL": "aiportal-emulator",
            "AIPORTAL_EMBEDDING_RETRIES": "0",
            "AIPORTAL_DATASET_REFILL_RETRIES": "0",
            "VECTORS_EMULATOR": embedder,
            **extra,
        }
    )
    result = subprocess.run(
        [sys.executable, str(SCENARIO)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _check_common(seen: dict) -> None:
    assert seen["available"] is True
    status, message, counts = seen["first"]
    assert status == "succeeded", message
    assert counts["embedded"] == counts["to_embed"] == 4
    assert seen["model"] == "aiportal-emulator"
    assert seen["stored"] == [["aiportal-emulator", 384]]
    search = seen["search"]
    # A question in the person's own words: full-text finds nothing, vector and hybrid find
    # the page about installing web hooks first.
    assert search["fulltext"]["owner"] == []
    assert search["vector"]["owner"][0] == [HOOKS, "vector"]
    assert search["hybrid"]["owner"][0] == [HOOKS, "hybrid"]
    # Grants hold for every method: the member with query access sees what the owner sees,
    # the outsider nothing at all.
    for method in ("vector", "hybrid"):
        assert search[method]["member"] == search[method]["owner"]
        assert search[method]["outsider"] == []
    assert seen["herons"] == [["upload:birds.txt", "hybrid"]]
    assert seen["from_async"] == search["hybrid"]["member"]
    # Unchanged: nothing embedded (the worker's counter is checked in test_vectors.py).
    assert seen["unchanged"] == [
        "succeeded",
        {
            "seen": 4,
            "added": 0,
            "reused": 4,
            "removed": 0,
            "errors": 0,
            "embedded": 0,
            "to_embed": 0,
        },
    ]
    assert seen["revoked"] == []
    assert seen["two_residencies"] == [True, 2]  # both answer; one embedding per residency
    # The query's embedding failed: full-text, no error.
    assert seen["worker_failing"] == [["upload:birds.txt", "fulltext"]]
    status, message, active, sent = seen["far"]
    assert (status, active, sent) == ("failed", None, 0)
    assert "far-away" in message and "active version is kept" in message


def test_sqlite_with_sqlite_vec(tmp_path, embedder, migrated_sqlite):
    # The run's migrated SQLite file (tests/conftest.py): the scenario's migrate finds every
    # migration applied instead of spending seconds on them.
    shutil.copy(migrated_sqlite, tmp_path / "aiportal.sqlite3")
    seen = _run(tmp_path, embedder)
    assert seen["vendor"] == "sqlite"
    _check_common(seen)


def test_postgresql_with_pgvector_and_its_hnsw_index(tmp_path, embedder, pg_database):
    seen = _run(tmp_path, embedder, DATABASE_URL=pg_database, AIPORTAL_DB_POOL="false")
    assert seen["vendor"] == "postgresql"
    _check_common(seen)
    # One partial HNSW index for the (model, dimension) stored, and the walk uses it.
    (index,) = seen["hnsw_indexes"]
    assert any(f"Index Scan using {index}" in line for line in seen["walk_plan"])
    # Half the vectors allowed: the over-fetched walk keeps enough, all of them allowed.
    assert seen["half"] == {**seen["half"], "count": 8, "all_allowed": True, "sorted": True}
    # 4 allowed of 604: no walk would keep them; the exact scan finds all four.
    assert seen["small_share"][0][0] == HOOKS
    assert len(seen["small_share"]) == 4 and seen["small_share_hybrid"][0][0] == HOOKS
    # The member's search never reaches the dataset they have no grant on.
    assert seen["ids"]["big"] not in seen["member_datasets"]
