"""Run in a fresh interpreter by tests/datasets/test_vectors_backends.py, against whatever
database the environment names (SQLite with sqlite-vec when DATABASE_URL is unset, pgserver's
PostgreSQL with pgvector when it points there) and an emulated embedding worker: migrate,
refill with embeddings, search by each method as three people, and on PostgreSQL look at
the query plans and at a filter that keeps a small share of the vectors. Prints one JSON
line."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

import django
import httpx
from channels.db import database_sync_to_async

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

call_command("migrate", verbosity=0)

from accounts.services import user_create  # noqa: E402
from datasets.models import (  # noqa: E402
    Chunk,
    ChunkEmbedding,
    Document,
    Level,
    Version,
    VersionDocument,
)
from datasets.selectors import chunk_search  # noqa: E402
from datasets.selectors.vectors import vector_ranked, vector_search_available  # noqa: E402
from datasets.services import dataset_create, dataset_files_dir, grant_set, source_add  # noqa: E402
from datasets.services.refill import dataset_refill_start  # noqa: E402
from datasets.services.vectors import chunk_vectors_store, vector_index_ensure  # noqa: E402
from datasets.sources import upload_store  # noqa: E402

MODEL = settings.AIPORTAL_EMBEDDING_MODEL
# One round of hashing: the passwords are not what this tests (tests/hashers.py).
settings.PASSWORD_HASHERS = ["tests.hashers.OneRoundPBKDF2PasswordHasher"]
PASSWORD = "pw-for-the-vector-test-1"
owner = user_create(email="owner@example.com", password=PASSWORD)
member = user_create(email="member@example.com", password=PASSWORD)
outsider = user_create(email="outsider@example.com", password=PASSWORD)
ops = dataset_create(user=owner, name="Ops", keep_versions=1)
grant_set(dataset=ops, user=owner, for_user=member, level=Level.QUERY)

DOCS = {
    "hooks.txt": "Installing hooks: install each web hook from the settings page, then test "
    "the hook with a sample event.",
    "faq.txt": "How do I reset my password? I do it from the account page.",
    "birds.txt": "Herons wade in the shallows and wait for fish.",
    "certs.txt": "Certificate rotation: the signing certificate is replaced every ninety days.",
}
# The person's own words: no word of it is in any document, but "reinstall" and "webhooks"
# share their roots with "install" and "web hook".
PARAPHRASE = "reinstalling webhooks"


def upload(dataset, files):
    stored = [
        {
            "stored": upload_store(
                files_dir=dataset_files_dir(dataset=dataset), name=name, chunks=[text.encode()]
            ),
            "name": name,
        }
        for name, text in files.items()
    ]
    dataset.sources.all().delete()
    source_add(dataset=dataset, user=owner, kind="upload", config={"files": stored})


def finished(job):
    # The refill runs in a thread of its own (common/tasks.py): wait for it.
    for _ in range(1200):
        job.refresh_from_db()
        if job.status not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise TimeoutError(job.status)


def keys(user, query, method, **kwargs):
    return [
        [h.key, h.method]
        for h in chunk_search(user=user, query=query, dataset_ids=[ops.pk], method=method, **kwargs)
    ]


upload(ops, DOCS)
first = finished(dataset_refill_start(dataset=ops, user=owner))
out = {
    "vendor": connection.vendor,
    "available": vector_search_available(),
    "first": [first.status, first.message, first.counts],
    "model": Version.objects.get(pk=first.version_id).embedding_model,
    "stored": sorted(ChunkEmbedding.objects.values_list("model", "dimension").distinct()),
    "search": {
        method: {
            "owner": keys(owner, PARAPHRASE, method),
            "member": keys(member, PARAPHRASE, method),
            "outsider": keys(outsider, PARAPHRASE, method),
        }
        for method in ("fulltext", "vector", "hybrid")
    },
    # Words it has: full-text and vectors agree on the first hit.
    "herons": keys(member, "herons wading", "hybrid", limit=1),
}
# As the chat searches: from a consumer's database_sync_to_async (asgiref's one
# process-wide thread), which the query's embedding must not wait for.
out["from_async"] = asyncio.run(
    asyncio.wait_for(database_sync_to_async(keys)(member, PARAPHRASE, "hybrid"), 30)
)
second = finished(dataset_refill_start(dataset=ops, user=owner))
# A grant taken away applies to the very next search, by meaning too.
from datasets.models import Grant  # noqa: E402
from datasets.services import grant_revoke  # noqa: E402

grant_revoke(grant=Grant.objects.get(dataset=ops, user=member), user=owner)
out["revoked"] = keys(member, PARAPHRASE, "vector") + keys(member, PARAPHRASE, "hybrid")
grant_set(dataset=ops, user=owner, for_user=member, level=Level.QUERY)
out["unchanged"] = [second.status, second.counts]

EMULATOR = os.environ["VECTORS_EMULATOR"]


def batches():
    return sum(httpx.get(f"{EMULATOR}/emulator/state", timeout=10).json()["embedding_batches"])


# The embedding worker fails the query's embedding: full-text answers, no error.
httpx.post(f"{EMULATOR}/emulator/faults", json={"status_500": True}, timeout=10)
out["worker_failing"] = keys(member, "herons wading", "hybrid")
httpx.delete(f"{EMULATOR}/emulator/faults", timeout=10)

# Two residencies searched together: the question is embedded once per group, each time
# only where that group allows, and both datasets answer.
near = dataset_create(user=owner, name="Near")
near.allowed_regions = '["test-a"]'
near.save()
upload(near, {"kingfisher.txt": "Kingfishers dive for small fish from low branches."})
finished(dataset_refill_start(dataset=near, user=owner))
sent = batches()
both = chunk_search(
    user=owner, query="fish", dataset_ids=[ops.pk, near.pk], method="vector", limit=10
)
out["two_residencies"] = [
    sorted({h.dataset_id for h in both}) == sorted([ops.pk, near.pk]),
    batches() - sent,
]

# Residency: a dataset that may go only to a region no worker is in is never embedded
# elsewhere; its refill fails and says why.
far = dataset_create(user=owner, name="Far")
far.allowed_regions = '["far-away"]'
far.save()
upload(far, {"far.txt": "Penguins nest on distant ice."})
sent = batches()
far_job = finished(dataset_refill_start(dataset=far, user=owner))
far.refresh_from_db()
out["far"] = [far_job.status, far_job.message, far.active_version_id, batches() - sent]


def synthetic(dataset, chunks, dim, rng):
    """A dataset of ``chunks`` one-chunk documents with random unit vectors, written
    directly (a refill of that many would embed them through the worker)."""
    version = Version.objects.create(
        dataset=dataset, number=1, status="active", embedding_model=MODEL, chunks=chunks
    )
    docs = Document.objects.bulk_create(
        Document(
            dataset=dataset,
            checksum=f"{dataset.pk}-{n}",
            content_type="text/plain",
            size=1,
            text="x",
            chunk_count=1,
        )
        for n in range(chunks)
    )
    made = Chunk.objects.bulk_create(
        Chunk(document=doc, ordinal=0, text=f"synthetic {n}") for n, doc in enumerate(docs)
    )
    VersionDocument.objects.bulk_create(
        VersionDocument(version=version, document=doc, key=f"s{n}", title=f"s{n}")
        for n, doc in enumerate(docs)
    )
    rows = []
    for chunk in made:
        vector = [rng.gauss(0, 1) for _ in range(dim)]
        norm = sum(x * x for x in vector) ** 0.5
        rows.append((chunk.pk, [x / norm for x in vector]))
    chunk_vectors_store(model=MODEL, rows=rows)
    dataset.active_version = version
    dataset.save(update_fields=["active_version"])
    return version


if connection.vendor == "postgresql":
    rng = random.Random(7)
    big = dataset_create(user=owner, name="Big")
    half = dataset_create(user=owner, name="Half")
    synthetic(big, 300, 384, rng)
    half_version = synthetic(half, 300, 384, rng)
    grant_set(dataset=half, user=owner, for_user=member, level=Level.QUERY)
    vector_index_ensure(model=MODEL, dimension=384)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE datasets_chunkembedding")
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'datasets_chunkembedding'"
            " AND indexdef LIKE '%%hnsw%%'"
        )
        out["hnsw_indexes"] = [row[0] for row in cursor.fetchall()]
    probe = [rng.gauss(0, 1) for _ in range(384)]

    # The plan of the index walk, as vector_ranked sends it.
    from datasets.selectors import vectors

    def explain_walk(version_ids, fetch):
        with connection.cursor() as cursor:
            cursor.execute(
                "EXPLAIN " + vectors.walk_sql(384),
                vectors.walk_params(probe, MODEL, version_ids, 8, fetch),
            )
            return [row[0] for row in cursor.fetchall()]

    plan = explain_walk([half_version.pk], 100)
    out["walk_plan"] = [line.strip()[:100] for line in plan if "Index" in line or "Scan" in line]
    settings.AIPORTAL_DATASET_VECTOR_EXACT_MAX = 0  # the index for every search below
    # Half the vectors allowed: the walk over-fetches and the filter keeps enough.
    half_hits = vector_ranked(
        vector=probe, model=MODEL, version_ids=[half_version.pk], allowed=300, limit=8
    )
    half_ids = set(Chunk.objects.filter(document__dataset=half).values_list("pk", flat=True))
    exact = vectors._exact_postgresql(probe, MODEL, 384, [half_version.pk], 8)
    out["half"] = {
        "count": len(half_hits),
        "all_allowed": all(pk in half_ids for pk, _ in half_hits),
        "recall": len({pk for pk, _ in half_hits} & {pk for pk, _ in exact}) / 8,
        "sorted": [s for _, s in half_hits] == sorted((s for _, s in half_hits), reverse=True),
    }
    # A filter that keeps 4 of 604 vectors: no walk can find them; the exact scan does.
    out["small_share"] = keys(member, PARAPHRASE, "vector")
    out["small_share_hybrid"] = keys(member, PARAPHRASE, "hybrid")
    # The member's search over both: only their datasets' chunks, never Big's.
    both = chunk_search(
        user=member,
        query="synthetic",
        dataset_ids=[ops.pk, half.pk, big.pk],
        limit=20,
        method="vector",
    )
    out["member_datasets"] = sorted({h.dataset_id for h in both})
    out["ids"] = {"ops": ops.pk, "half": half.pk, "big": big.pk}

print(json.dumps(out))
