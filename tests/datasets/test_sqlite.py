"""The embedded default (SQLite, eager Celery, in-memory channel layer) searches with FTS5:
run in a fresh interpreter without DATABASE_URL or REDIS_URL, the way ``./dev up`` runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from datasets.services.chunking import CONTEXT_SEPARATOR
from tests.conftest import embedded_env

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, django
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)

from accounts.services import user_create
from datasets.models import Chunk, Level
from datasets.selectors import chunk_search
from datasets.services import dataset_create, dataset_files_dir, grant_set, source_add
from datasets.services.refill import dataset_refill_start
from datasets.sources import upload_store

owner = user_create(email="owner@example.com", password="pw-for-the-sqlite-test-1")
member = user_create(email="member@example.com", password="pw-for-the-sqlite-test-1")
outsider = user_create(email="outsider@example.com", password="pw-for-the-sqlite-test-1")
dataset = dataset_create(user=owner, name="Embedded", keep_versions=0)

def upload(files):
    stored = [
        {"stored": upload_store(files_dir=dataset_files_dir(dataset=dataset), name=name,
                                chunks=[text.encode()]), "name": name}
        for name, text in files.items()
    ]
    dataset.sources.all().delete()
    source_add(dataset=dataset, user=owner, kind="upload", config={"files": stored})

def finished(job):
    # The embedded default runs a refill in a thread of its own (common/tasks.py): wait.
    import time
    for _ in range(600):
        job.refresh_from_db()
        if job.status not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise TimeoutError(job.status)

def keys(user, query):
    return [h.key for h in chunk_search(user=user, query=query, dataset_ids=[dataset.pk])]

upload({"birds.txt": "Herons wade in the shallows.", "fish.txt": "Salmon swim upstream."})
first = finished(dataset_refill_start(dataset=dataset, user=owner))
grant_set(dataset=dataset, user=owner, for_user=member, level=Level.QUERY)
out = {
    "vendor": connection.vendor,
    "first": [first.status, first.counts],
    "owner": keys(owner, "heron wading"),
    "member": keys(member, "salmon"),
    "outsider": keys(outsider, "salmon"),
    "syntax": keys(owner, 'salmon" OR NEAR(x'),
}
upload({"birds.txt": "Herons wade in the shallows.", "fish.txt": "Trout hide under stones."})
second = finished(dataset_refill_start(dataset=dataset, user=owner))
out["second"] = [second.status, second.counts]
out["after"] = [keys(owner, "salmon"), keys(owner, "trout"), keys(owner, "herons")]
with connection.cursor() as cursor:
    # Raises if the FTS index and the chunks it indexes disagree in any row.
    cursor.execute("INSERT INTO datasets_chunk_fts(datasets_chunk_fts) VALUES ('integrity-check')")
    out["fts_in_step"] = True
out["chunks"] = Chunk.objects.count()
print(json.dumps(out))
"""

# The same set-up, then a Markdown guide whose sections are longer than a chunk.
HEADINGS = (
    SCRIPT[: SCRIPT.index("upload({")]
    + r"""
guide = "# Birding\n\n## Waders\n\n" + " ".join(
    f"Herons and egrets stand still in the shallows number {n}." for n in range(12)
)
upload({"guide.md": guide, "fish.txt": "Salmon swim upstream."})
finished(dataset_refill_start(dataset=dataset, user=owner))
hits = chunk_search(user=owner, query="waders", dataset_ids=[dataset.pk], limit=50)
print(json.dumps({
    "vendor": connection.vendor,
    "found": [[h.key, h.context, "wader" in h.text.lower()] for h in hits],
    "fish": [h.context for h in chunk_search(user=owner, query="fish", dataset_ids=[dataset.pk])],
}))
"""
)


def path(*parts: str) -> str:
    return CONTEXT_SEPARATOR.join(parts)


def _run(script: str, tmp_path: Path, migrated: Path, **extra: str) -> dict:
    # The run's migrated SQLite file (tests/conftest.py): the script's migrate finds every
    # migration applied instead of spending seconds on them.
    shutil.copy(migrated, tmp_path / "aiportal.sqlite3")
    env = {**embedded_env(tmp_path), "DEBUG": "true", **extra}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_embedded_default_refills_and_searches_with_fts5(tmp_path, migrated_sqlite):
    seen = _run(SCRIPT, tmp_path, migrated_sqlite)
    assert seen["vendor"] == "sqlite"
    counts = {
        "seen": 2,
        "added": 2,
        "reused": 0,
        "removed": 0,
        "errors": 0,
        "embedded": 0,
        "to_embed": 0,
    }
    assert seen["first"] == ["succeeded", counts]
    assert seen["owner"] == ["upload:birds.txt"]
    assert seen["member"] == ["upload:fish.txt"]
    assert seen["outsider"] == []
    assert seen["syntax"] == ["upload:fish.txt"]
    assert seen["second"] == ["succeeded", {**counts, "added": 1, "reused": 1}]
    # Salmon is gone with the old fish.txt (no old version kept): its chunks were deleted,
    # and the triggers took their rows out of the FTS index too.
    assert seen["after"] == [[], ["upload:fish.txt"], ["upload:birds.txt"]]
    assert seen["chunks"] == 2 and seen["fts_in_step"]


def test_on_sqlite_a_word_only_in_a_heading_path_finds_the_chunks_under_it(
    tmp_path, migrated_sqlite
):
    seen = _run(
        HEADINGS,
        tmp_path,
        migrated_sqlite,
        AIPORTAL_DATASET_CHUNK_TOKENS="30",
        AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS="0",
    )
    assert seen["vendor"] == "sqlite"
    assert len(seen["found"]) > 2
    assert {(key, context) for key, context, _ in seen["found"]} == {
        ("upload:guide.md", path("Birding", "Waders"))
    }
    # Most of them found by their context alone: "waders" is not in their text.
    assert [in_text for _, _, in_text in seen["found"]].count(False) >= 2
    # A plain-text document's title (its file name) is searched with it.
    assert seen["fish"] == ["fish.txt"]
