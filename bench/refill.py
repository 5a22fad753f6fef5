"""What a refill costs and how fast retrieval answers.

    DATABASE_URL=postgres://… .venv/bin/python -m bench.refill [--docs 10000] [--doc-kb 20]
        [--changed 0.01] [--search-chunks 1000000] [--queries 300]

It prints, for a generated corpus of plain-text uploads (``--docs`` documents of about
``--doc-kb`` KB: 10,000 of 20 KB, about 200 MB by default):
- the first refill: seconds, MB/s, documents/s, chunks;
- a second refill with nothing changed, and its share of the first's time (target < 5 %);
- a refill with ``--changed`` of the documents changed;
- search latency p50/p95/p99 through ``chunk_search`` (grants checked, as in chat) over
  ``--search-chunks`` chunks inserted in bulk straight into the tables (target p95 < 50 ms
  at 1 million on PostgreSQL).

The refills run in this process through the same service the Celery task calls
(``refill_job_run``), so the figures are the engine's, not the broker's. The bench makes a
throwaway database of its own (``bench_refill_<pid>`` next to DATABASE_URL's, or SQLite in a
temporary directory without DATABASE_URL) and drops it at the end, with the corpus files.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-only-password-never-signed-in-with"  # noqa: S105
sys.path.insert(0, str(ROOT))


def _vocabulary(rng: random.Random, size: int) -> tuple[list[str], list[float]]:
    """Pseudo-words with Zipf-like frequencies, the way words are spread in real text."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: dict[str, None] = {}
    while len(words) < size:
        words.setdefault("".join(rng.choices(letters, k=rng.randint(3, 10))), None)
    ordered = list(words)
    weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))
    return ordered, weights


class Corpus:
    def __init__(self, *, seed: int, vocabulary: int = 20000) -> None:
        self.rng = random.Random(seed)
        self.words, self.cum_weights = _vocabulary(self.rng, vocabulary)

    def text(self, chars: int) -> str:
        out = io.StringIO()
        written = 0
        while written < chars:
            paragraph = " ".join(
                self.rng.choices(
                    self.words, cum_weights=self.cum_weights, k=self.rng.randint(40, 160)
                )
            )
            out.write(paragraph.capitalize() + ".\n\n")
            written += len(paragraph) + 3
        return out.getvalue()

    def query(self) -> str:
        # Two or three words of middling frequency: what a question's content words are.
        return " ".join(self.rng.choice(self.words[50:5000]) for _ in range(self.rng.randint(2, 3)))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _setup_database() -> tuple[object, object]:
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiportal.settings")
    os.environ.setdefault("DEBUG", "true")
    django.setup()
    from django.test.utils import setup_databases

    database = settings.DATABASES["default"]
    postgresql = database["ENGINE"].endswith("postgresql")
    # A name of its own: a test run may be using test_<name> on the same server right now.
    database.setdefault("TEST", {})["NAME"] = (
        f"bench_refill_{os.getpid()}"
        if postgresql
        else str(Path(tempfile.gettempdir()) / f"bench_refill_{os.getpid()}.sqlite3")
    )
    # A migrated database to copy, when one is named (the test suite names a copy of its own
    # test database: tests/conftest.py): the migrate that follows has nothing left to apply.
    if postgresql and os.environ.get("AIPORTAL_BENCH_TEMPLATE_DB"):
        database["TEST"]["TEMPLATE"] = os.environ["AIPORTAL_BENCH_TEMPLATE_DB"]
    return setup_databases(verbosity=0, interactive=False), settings


def _refill(dataset, user) -> tuple[float, object]:
    from datasets.models import RefillJob
    from datasets.services.refill import refill_job_run

    started = time.perf_counter()
    # The row dataset_refill_start would make, without sending the task: the figures are the
    # engine's own, not a broker's or an eager Celery's.
    job = RefillJob.objects.create(dataset=dataset, triggered_by=user)
    refill_job_run(job_id=job.pk, worker="bench")
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"refill {job.pk} {job.status}: {job.message} {job.errors[:3]}")
    return elapsed, job


def bench_refills(args, corpus: Corpus, files_dir: Path) -> None:
    from accounts.services import user_create
    from datasets.models import Source
    from datasets.services import dataset_create, dataset_files_dir
    from datasets.sources import upload_store

    user = user_create(email="bench@example.com", password=PASSWORD)
    dataset = dataset_create(user=user, name="Bench corpus", keep_versions=1)
    target = dataset_files_dir(dataset=dataset)
    files, total_bytes = [], 0
    generated = time.perf_counter()
    for n in range(args.docs):
        data = corpus.text(args.doc_kb * 1024).encode()
        total_bytes += len(data)
        name = f"doc{n:06}.txt"
        files.append(
            {"stored": upload_store(files_dir=target, name=name, chunks=[data]), "name": name}
        )
    source = Source.objects.create(dataset=dataset, kind="upload", config={"files": files})
    mb = total_bytes / 1e6
    generated = time.perf_counter() - generated
    print(f"corpus: {args.docs} documents, {mb:.1f} MB (generated in {generated:.1f} s)")

    first, job = _refill(dataset, user)
    dataset.refresh_from_db()
    chunks = dataset.active_version.chunks
    print(
        f"first refill: {first:.2f} s, {mb / first:.1f} MB/s, {args.docs / first:.0f} documents/s, "
        f"{chunks} chunks ({chunks / first:.0f}/s)"
    )
    second, job = _refill(dataset, user)
    print(
        f"unchanged refill: {second:.2f} s = {100 * second / first:.1f}% of the first "
        f"(target < 5%); reused {job.reused}, added {job.added}"
    )
    changed = max(1, int(args.docs * args.changed))
    for item in corpus.rng.sample(files, changed):
        data = corpus.text(args.doc_kb * 1024).encode()
        item["stored"] = upload_store(files_dir=target, name=item["name"], chunks=[data])
    source.config = {"files": files}
    source.save()
    third, job = _refill(dataset, user)
    print(
        f"{100 * changed / args.docs:g}% changed refill: {third:.2f} s = "
        f"{100 * third / first:.1f}% of the first; added {job.added}, reused {job.reused}"
    )


def bench_search(args, corpus: Corpus) -> None:
    from django.db import connection

    from accounts.services import user_create
    from datasets.models import Chunk, Dataset, Document, Version, VersionDocument
    from datasets.selectors import chunk_search
    from datasets.services import dataset_create

    user = user_create(email="searcher@example.com", password=PASSWORD)
    dataset = dataset_create(user=user, name="Bench search")
    version = Version.objects.create(dataset=dataset, number=1, status=Version.Status.ACTIVE)
    Dataset.objects.filter(pk=dataset.pk).update(active_version=version)
    per_document = 50
    documents = max(1, args.search_chunks // per_document)
    loaded = time.perf_counter()
    made = 0
    for start in range(0, documents, 200):
        batch = [
            Document(
                dataset=dataset, checksum=f"{n:064x}", content_type="text/plain", size=0, text=""
            )
            for n in range(start, min(documents, start + 200))
        ]
        Document.objects.bulk_create(batch)
        VersionDocument.objects.bulk_create(
            VersionDocument(version=version, document=d, key=f"bench:{d.checksum[-8:]}", title="t")
            for d in batch
        )
        rows = [(d.pk, n, corpus.text(600)[:800]) for d in batch for n in range(per_document)]
        if connection.vendor == "postgresql":
            with (
                connection.cursor() as cursor,
                cursor.copy("COPY datasets_chunk (document_id, ordinal, text) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            Chunk.objects.bulk_create(
                [Chunk(document_id=d, ordinal=n, text=t) for d, n, t in rows], batch_size=2000
            )
        made += len(rows)
        if made % 100000 < len(rows):
            print(f"  {made} chunks loaded ({time.perf_counter() - loaded:.0f} s)", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("datasets_chunk", "datasets_document", "datasets_versiondocument"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"search corpus: {made} chunks in {time.perf_counter() - loaded:.0f} s")
    for _ in range(10):  # warm the caches
        chunk_search(user=user, query=corpus.query(), dataset_ids=[dataset.pk])
    latencies, found = [], 0
    for _ in range(args.queries):
        query = corpus.query()
        started = time.perf_counter()
        hits = chunk_search(user=user, query=query, dataset_ids=[dataset.pk])
        latencies.append((time.perf_counter() - started) * 1000)
        found += bool(hits)
    print(
        f"search over {made} chunks ({connection.vendor}), {args.queries} queries: "
        f"p50 {_percentile(latencies, 0.5):.1f} ms, p95 {_percentile(latencies, 0.95):.1f} ms, "
        f"p99 {_percentile(latencies, 0.99):.1f} ms, mean {statistics.fmean(latencies):.1f} ms; "
        f"{found} found something (target p95 < 50 ms)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--doc-kb", type=int, default=20)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--search-chunks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    files_dir = Path(tempfile.mkdtemp(prefix="bench-refill-"))
    os.environ["AIPORTAL_DATASETS_DIR"] = str(files_dir)
    old_config, settings = _setup_database()
    settings.AIPORTAL_DATASETS_DIR = files_dir
    from django.test.utils import teardown_databases

    corpus = Corpus(seed=args.seed)
    try:
        if args.docs:
            bench_refills(args, corpus, files_dir)
        if args.search_chunks:
            bench_search(args, corpus)
    finally:
        from django.db import connections

        connections.close_all()
        teardown_databases(old_config, verbosity=0)
        shutil.rmtree(files_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
