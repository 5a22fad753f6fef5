"""How fast retrieval by meaning answers at scale, and what embedding costs a refill.

    .venv/bin/python -m bench.retrieval_scale [--sizes 10000,100000] \
        [--backends postgresql,sqlite] [--queries 200] [--refill-docs 200] [--json]

For each backend (PostgreSQL 16 with pgvector from ``pgserver``, started here; SQLite with
sqlite-vec, the embedded default) and each size, a fresh database holds that many synthetic
chunks with 384-dimensional vectors (real embeddings' dimension: all-MiniLM-L6-v2's),
loaded in bulk (COPY on PostgreSQL) into two datasets of half the chunks each, one of which
the searching person may query. It prints:
- query latency p50/p95 through ``chunk_search`` as that person (grants and active versions
  checked on every query, the query embedded through the gateway by an emulated worker) for
  "vector", "hybrid" and "fulltext", and of the vector ranking alone (no embedding call);
- on PostgreSQL, the HNSW index's build time;
- a refill's embedding throughput (``--refill-docs`` new documents: chunks embedded per
  second through the gateway against the emulator) and the embedding requests of the same
  refill again, unchanged (target: 0).

The vectors are clustered (points around a thousand centres), as real embeddings are, so the
HNSW index's behaviour is a real one; their texts are pseudo-words with Zipf-like
frequencies (bench/refill.py's corpus). Each (backend, size) runs in a process of its own,
since Django has one database per process. ``--json``: the last line is one JSON object
with every figure, keyed by backend and size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.refill import Corpus, _percentile  # noqa: E402

MODEL = "aiportal-emulator"
DIM = 384
PER_DOCUMENT = 50
CENTRES = 1000
PASSWORD = "bench-only-password-never-signed-in-with"  # noqa: S105
# pgvector's text form of one vector, formatted in one operation: a million rows formatted
# number by number took longer than the rest of the load.
VECTOR_LITERAL = "[" + ",".join(["%.6g"] * DIM) + "]"


# --- The parent: servers, one child per (backend, size), the report ----------------------------


def _emulator(args, region: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "gateway.emulator", "--host", "127.0.0.1", "--port", "0"),
            *("--region", region, "--ttft-ms", str(args.emulator_ttft_ms)),
            *("--prefill-tokens-per-second", str(args.emulator_prefill)),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("READY "):
            return process, line.split()[1]
    raise SystemExit("the emulator did not start")


def _child(
    backend: str, size: int, args, emulators: dict[str, str], database_url: str | None
) -> dict:
    data_dir = tempfile.mkdtemp(prefix="bench-vectors-")
    # A migrated SQLite file to start from, when one is named (the test suite names the one it
    # migrated once for the run: tests/conftest.py): the child's migrate then has nothing to
    # apply, where from nothing it takes seconds.
    template = os.environ.get("AIPORTAL_BENCH_SQLITE_TEMPLATE")
    if backend == "sqlite" and template:
        shutil.copy(template, Path(data_dir) / "aiportal.sqlite3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPORTAL_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "aiportal.settings",
            "DEBUG": "true",
            "AIPORTAL_DATA_DIR": data_dir,
            "AIPORTAL_WORKERS": ",".join(f"{url}@{region}" for region, url in emulators.items()),
            "AIPORTAL_EMBEDDING_MODEL": MODEL,
            "AIPORTAL_DB_POOL": "false",
            "BENCH_EMULATOR": emulators["refill"],
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    command = [
        sys.executable,
        "-m",
        "bench.retrieval_scale",
        "--child",
        str(size),
        *("--queries", str(args.queries), "--refill-docs", str(args.refill_docs)),
        *("--seed", str(args.seed)),
        *("--maintenance-work-mem", args.maintenance_work_mem),
        *("--parallel-workers", str(args.parallel_workers)),
    ]
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    for line in result.stdout.splitlines()[:-1]:
        print(f"  {line}", flush=True)
    if result.returncode != 0:
        raise SystemExit(f"{backend} at {size} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--refill-docs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    # The emulated worker's fixed time per request and prefill rate: a small pooling model
    # (all-MiniLM-L6-v2) embeds a short query in a few milliseconds on a GPU and goes through
    # some 200,000 tokens a second (the emulator's defaults, 40 ms and 20,000, are a chat
    # model's). The figures are then aiportal's own costs more than the model's.
    parser.add_argument("--emulator-ttft-ms", type=float, default=5.0)
    parser.add_argument("--emulator-prefill", type=float, default=200_000.0)
    # PostgreSQL's memory and helpers for building the HNSW index after the load (its
    # defaults, 64 MB and 2, made the index of 100,000 chunks take 15 minutes here).
    parser.add_argument("--maintenance-work-mem", default="2GB")
    parser.add_argument("--parallel-workers", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child_main(args)
        return

    sizes = [int(size) for size in args.sizes.split(",") if size]
    backends = [name for name in args.backends.split(",") if name]
    # Two workers in two regions: the searched datasets may go only to "query", the refilled
    # one only to "refill", so the refill's worker counts its embedding requests alone.
    started = [_emulator(args, region) for region in ("query", "refill")]
    urls = {"query": started[0][1], "refill": started[1][1]}
    figures: dict[str, dict[str, dict]] = {}
    try:
        for backend in backends:
            figures[backend] = {}
            if backend == "postgresql":
                from bench.pgvector_server import pgvector_server

                with pgvector_server() as database:
                    for size in sizes:
                        print(f"{backend}, {size} chunks:", flush=True)
                        figures[backend][str(size)] = _child(backend, size, args, urls, database())
            elif backend == "sqlite":
                for size in sizes:
                    print(f"{backend}, {size} chunks:", flush=True)
                    figures[backend][str(size)] = _child(backend, size, args, urls, None)
            else:
                raise SystemExit(f"unknown backend {backend!r}: postgresql or sqlite")
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(10)
    if args.json:
        print(json.dumps(figures))


# --- The child: one database, one size ---------------------------------------------------------


def _vectors(rng: random.Random, count: int):
    """``count`` unit vectors around CENTRES random centres, as float32 rows."""
    import numpy as np

    generator = np.random.default_rng(rng.randrange(2**32))
    centres = generator.standard_normal((CENTRES, DIM)).astype(np.float32)
    rows = centres[generator.integers(0, CENTRES, count)] + 0.6 * generator.standard_normal(
        (count, DIM)
    ).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _load(dataset, chunks: int, corpus: Corpus, rng: random.Random):
    """A version of ``chunks`` synthetic chunks with their vectors, made active."""
    from django.db import connection

    from datasets.models import Chunk, ChunkEmbedding, Dataset, Document, Version, VersionDocument
    from datasets.selectors.vectors import pgvector_column

    version = Version.objects.create(
        dataset=dataset,
        number=1,
        status=Version.Status.ACTIVE,
        embedding_model=MODEL,
        chunks=chunks,
    )
    Dataset.objects.filter(pk=dataset.pk).update(active_version=version)
    documents = max(1, chunks // PER_DOCUMENT)
    pg = pgvector_column()
    for start in range(0, documents, 200):
        batch = Document.objects.bulk_create(
            Document(
                dataset=dataset,
                checksum=f"{dataset.pk}-{n}",
                content_type="text/plain",
                size=0,
                text="",
                chunk_count=PER_DOCUMENT,
            )
            for n in range(start, min(documents, start + 200))
        )
        VersionDocument.objects.bulk_create(
            VersionDocument(version=version, document=d, key=f"bench:{d.checksum}", title="t")
            for d in batch
        )
        rows = [(d.pk, n, corpus.text(300)[:400]) for d in batch for n in range(PER_DOCUMENT)]
        vectors = _vectors(rng, len(rows))
        if pg:
            with connection.cursor() as cursor:
                with cursor.copy(
                    "COPY datasets_chunk (document_id, ordinal, text) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(
                    "SELECT id FROM datasets_chunk WHERE document_id = ANY(%s)"
                    " ORDER BY document_id, ordinal",
                    [[d.pk for d in batch]],
                )
                ids = [row[0] for row in cursor.fetchall()]
                with cursor.copy(
                    "COPY datasets_chunkembedding (chunk_id, model, dimension, vector) FROM STDIN"
                ) as copy:
                    for chunk_id, vector in zip(ids, vectors, strict=True):
                        copy.write_row((chunk_id, MODEL, DIM, VECTOR_LITERAL % tuple(vector)))
        else:
            made = Chunk.objects.bulk_create(
                [Chunk(document_id=d, ordinal=n, text=t) for d, n, t in rows], batch_size=2000
            )
            ChunkEmbedding.objects.bulk_create(
                (
                    ChunkEmbedding(chunk=c, model=MODEL, dimension=DIM, vector=v.tobytes())
                    for c, v in zip(made, vectors, strict=True)
                ),
                batch_size=2000,
            )
    return version


def _timed(function, repeat: int) -> dict[str, float]:
    latencies = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        latencies.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(_percentile(latencies, 0.5), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
        "mean_ms": round(statistics.fmean(latencies), 2),
    }


def _embedding_requests() -> int:
    import httpx

    state = httpx.get(f"{os.environ['BENCH_EMULATOR']}/emulator/state", timeout=10).json()
    return len(state["embedding_batches"])  # the last 256: the refill's worker has no more


def _refill(dataset, user) -> tuple[float, object]:
    from datasets.models import RefillJob
    from datasets.services.refill import refill_job_run

    started = time.perf_counter()
    job = RefillJob.objects.create(dataset=dataset, triggered_by=user)
    refill_job_run(job_id=job.pk, worker="bench")
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    if job.status != "succeeded":
        raise SystemExit(f"refill {job.status}: {job.message}")
    return elapsed, job


def _refill_figures(args, corpus: Corpus, owner) -> dict:
    from datasets.models import Source
    from datasets.services import dataset_create, dataset_files_dir
    from datasets.sources import upload_store

    dataset = dataset_create(user=owner, name="Refill", keep_versions=1)
    dataset.allowed_regions = '["refill"]'
    dataset.save(update_fields=["allowed_regions"])
    target = dataset_files_dir(dataset=dataset)
    files = []
    for n in range(args.refill_docs):
        name = f"doc{n:05}.txt"
        data = corpus.text(4000).encode()
        files.append(
            {"stored": upload_store(files_dir=target, name=name, chunks=[data]), "name": name}
        )
    Source.objects.create(dataset=dataset, kind="upload", config={"files": files})
    before = _embedding_requests()
    first, job = _refill(dataset, owner)
    requests = _embedding_requests() - before
    embedded = job.embedded
    before = _embedding_requests()
    second, again = _refill(dataset, owner)
    figures = {
        "documents": args.refill_docs,
        "chunks_embedded": embedded,
        "seconds": round(first, 2),
        "chunks_per_second": round(embedded / first, 1),
        "embedding_requests": requests,
        "unchanged_seconds": round(second, 2),
        "unchanged_embedding_requests": _embedding_requests() - before,
        "unchanged_embedded": again.embedded,
    }
    print(
        f"refill: {embedded} chunks embedded in {first:.1f} s ({figures['chunks_per_second']}/s, "
        f"{requests} requests); unchanged: {figures['unchanged_embedding_requests']} "
        f"embedding requests, {second:.2f} s"
    )
    return figures


def child_main(args) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from accounts.services import user_create
    from datasets.models import Level
    from datasets.selectors import chunk_search
    from datasets.selectors.vectors import vector_ranked
    from datasets.services import dataset_create, grant_set
    from datasets.services.vectors import vector_index_ensure

    size = args.child
    rng = random.Random(args.seed)
    corpus = Corpus(seed=args.seed)
    owner = user_create(email="owner@example.com", password=PASSWORD)
    member = user_create(email="member@example.com", password=PASSWORD)
    allowed = dataset_create(user=owner, name="Allowed")
    hidden = dataset_create(user=owner, name="Hidden")
    grant_set(dataset=allowed, user=owner, for_user=member, level=Level.QUERY)
    for dataset in (allowed, hidden):
        dataset.allowed_regions = '["query"]'
        dataset.save(update_fields=["allowed_regions"])

    started = time.perf_counter()
    allowed_version = _load(allowed, size // 2, corpus, rng)
    _load(hidden, size - size // 2, corpus, rng)
    figures: dict = {"backend": connection.vendor, "chunks": size}
    figures["load_seconds"] = round(time.perf_counter() - started, 1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # pgvector builds an HNSW index fastest while its graph fits in this memory (a
            # million vectors of 384 dimensions need some 2 GB), with parallel workers.
            cursor.execute(
                "SELECT set_config('maintenance_work_mem', %s, false)", [args.maintenance_work_mem]
            )
            cursor.execute(
                "SELECT set_config('max_parallel_maintenance_workers', %s, false)",
                [str(args.parallel_workers)],
            )
        figures["maintenance_work_mem"] = args.maintenance_work_mem
        started = time.perf_counter()
        vector_index_ensure(model=MODEL, dimension=DIM)
        figures["hnsw_build_seconds"] = round(time.perf_counter() - started, 1)
        with connection.cursor() as cursor:
            for table in ("datasets_chunk", "datasets_chunkembedding", "datasets_versiondocument"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"loaded in {figures['load_seconds']} s"
        + (
            f", HNSW index built in {figures['hnsw_build_seconds']} s"
            if "hnsw_build_seconds" in figures
            else ""
        )
    )
    ids = [allowed.pk, hidden.pk]
    for _ in range(5):  # warm the caches and the gateway's snapshot
        chunk_search(user=member, query=corpus.query(), dataset_ids=ids, method="hybrid")
    probes = _vectors(rng, args.queries)
    cursor = iter(range(10**9))

    def ranked() -> None:
        vector = probes[next(cursor) % len(probes)].tolist()
        vector_ranked(
            vector=vector,
            model=MODEL,
            version_ids=[allowed_version.pk],
            allowed=size // 2,
            limit=32,
        )

    figures["vector_ranking"] = _timed(ranked, args.queries)
    for method in ("vector", "hybrid", "fulltext"):
        figures[method] = _timed(
            lambda method=method: chunk_search(
                user=member, query=corpus.query(), dataset_ids=ids, method=method
            ),
            args.queries,
        )
    for name in ("vector_ranking", "vector", "hybrid", "fulltext"):
        f = figures[name]
        print(f"{name}: p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms")
    if args.refill_docs:
        figures["refill"] = _refill_figures(args, corpus, owner)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
