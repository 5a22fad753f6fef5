"""Refills embed only what is new, through the gateway against a real emulated worker: one
vector per (chunk, model), nothing sent for an unchanged refill, a model change embeds the
new version while the old one keeps its vectors, workers that are down or a refill over the
bound leave the active version as it was, and the progress says "embedded n of m".

The suite's PostgreSQL has no pgvector: vectors are stored in the portable column and search
falls back to full-text, which the system check says. The vector search itself is tested
against pgvector and sqlite-vec in tests/datasets/test_vectors_backends.py.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from django.core.checks import run_checks

from datasets.models import ChunkEmbedding, RefillJob, Version
from datasets.protocol import job_group
from datasets.selectors import chunk_search
from datasets.selectors.vectors import vector_search_available
from datasets.services.refill import RefillRetry, dataset_refill_start, refill_job_run
from tests.conftest import free_port, start_emulator
from tests.datasets.conftest import corpus

# Transactional: embeddings are made on a loop of their own whose thread writes the usage
# records on its own connection, committed outside the test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "aiportal-emulator"
OTHER = "other-embedder"
Status = RefillJob.Status


@pytest.fixture(scope="module")
def embedder():
    """An emulated worker of its own (its embedding counter is this module's alone) that
    serves two models, for the model change."""
    process, url = start_emulator("--model", MODEL, "--model", OTHER)
    yield url
    process.stop()


@pytest.fixture(autouse=True)
def _embedding(settings, embedder):
    settings.AIPORTAL_WORKERS = f"{embedder}@test-a"
    settings.AIPORTAL_EMBEDDING_MODEL = MODEL
    settings.AIPORTAL_EMBEDDING_BACKOFF = 0.01
    settings.AIPORTAL_EMBEDDING_BATCH = 16


def _batches(url: str) -> int:
    return sum(httpx.get(f"{url}/emulator/state", timeout=10).json()["embedding_batches"])


def _vectors(version: Version, model: str) -> int:
    return ChunkEmbedding.objects.filter(
        model=model, chunk__document__entries__version=version
    ).count()


def test_a_refill_embeds_its_chunks_once_and_an_unchanged_refill_sends_nothing(
    dataset, upload, refill_now, embedder
):
    upload(dataset, corpus(3))
    before = _batches(embedder)
    first = refill_now(dataset)
    version = dataset.active_version
    assert first.status == Status.SUCCEEDED, first.message
    assert version.embedding_model == MODEL
    assert first.embedded == first.to_embed == version.chunks > 0
    assert _vectors(version, MODEL) == version.chunks
    assert _batches(embedder) - before == version.chunks  # texts sent: each chunk once

    sent = _batches(embedder)
    second = refill_now(dataset)
    assert second.status == Status.SUCCEEDED and second.reused == 3
    assert (second.embedded, second.to_embed) == (0, 0)
    assert _batches(embedder) == sent  # not one embedding request
    assert _vectors(dataset.active_version, MODEL) == version.chunks

    # One new document: only its chunks go to the worker.
    upload(dataset, {**corpus(3), "new.txt": "A fresh page about kingfishers."})
    third = refill_now(dataset)
    assert (third.embedded, third.to_embed) == (1, 1)
    assert _batches(embedder) == sent + 1


def test_a_model_change_embeds_the_new_version_and_the_old_one_keeps_its_vectors(
    dataset, upload, refill_now, settings
):
    upload(dataset, corpus(2))
    refill_now(dataset)
    old = dataset.active_version
    settings.AIPORTAL_EMBEDDING_MODEL = OTHER
    job = refill_now(dataset)
    new = dataset.active_version
    assert job.status == Status.SUCCEEDED and job.reused == 2  # the documents are reused...
    assert new.embedding_model == OTHER and job.embedded == new.chunks  # ...not their vectors
    assert _vectors(new, OTHER) == new.chunks
    old.refresh_from_db()
    assert old.status == Version.Status.RETIRED and old.embedding_model == MODEL
    assert _vectors(old, MODEL) == old.chunks  # a rollback finds them


def test_embedding_workers_down_leave_the_active_version_and_say_why(
    dataset, upload, refill_now, settings
):
    upload(dataset, corpus(1))
    active = refill_now(dataset).version
    upload(dataset, corpus(2))
    settings.AIPORTAL_WORKERS = f"http://127.0.0.1:{free_port()}@test-a"  # nobody listens
    settings.AIPORTAL_EMBEDDING_RETRIES = 1
    job = dataset_refill_start(dataset=dataset, user=dataset.owner)
    try:
        refill_job_run(job_id=job.pk, worker="test-runner")
        retried = False
    except RefillRetry:
        retried = True  # a retryable failure goes back to the queue, with backoff
    job.refresh_from_db()
    dataset.refresh_from_db()
    assert job.status == (Status.QUEUED if retried else Status.FAILED)
    assert "embedding workers" in job.message and "active version is kept" in job.message
    assert dataset.active_version == active
    assert Version.objects.get(pk=job.version_id).status == Version.Status.FAILED


def test_a_refill_over_the_embedding_bound_fails_before_sending_anything(
    dataset, upload, refill_now, settings, embedder
):
    upload(dataset, corpus(1))
    active = refill_now(dataset).version
    upload(dataset, corpus(4))
    settings.AIPORTAL_DATASET_EMBED_MAX_CHUNKS = 2
    sent = _batches(embedder)
    job = refill_now(dataset)
    assert job.status == Status.FAILED
    assert "AIPORTAL_DATASET_EMBED_MAX_CHUNKS" in job.message
    assert dataset.active_version == active and _batches(embedder) == sent


def test_the_refills_progress_counts_the_chunks_embedded(transactional_db, dataset, upload):
    # Committed rows: each progress write is published as it commits, as in a worker.
    channel_layers.backends.clear()
    upload(dataset, corpus(3))
    job = dataset_refill_start(dataset=dataset, user=dataset.owner)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_group(job.pk), channel)
    refill_job_run(job_id=job.pk, worker="test-runner")

    async def frames() -> list[dict]:
        got = []
        while not got or got[-1]["status"] != "succeeded":
            got.append(await asyncio.wait_for(layer.receive(channel), 10))
        return got

    counts = [(f["counts"]["embedded"], f["counts"]["to_embed"]) for f in async_to_sync(frames)()]
    total = Version.objects.get(pk=RefillJob.objects.get(pk=job.pk).version_id).chunks
    assert (0, total) in counts and counts[-1] == (total, total)
    channel_layers.backends.clear()


def test_without_pgvector_search_is_full_text_and_the_check_says_so(
    dataset, upload, refill_now, owner
):
    upload(dataset, {"birds.txt": "Herons wade in the shallows."})
    refill_now(dataset)
    assert ChunkEmbedding.objects.count() == 1  # stored, in the portable column
    assert not vector_search_available()
    hits = chunk_search(user=owner, query="herons", dataset_ids=[dataset.pk], method="hybrid")
    assert [(h.key, h.method) for h in hits] == [("upload:birds.txt", "fulltext")]
    warnings = [m for m in run_checks(databases=["default"]) if m.id == "datasets.W001"]
    assert len(warnings) == 1 and "full-text only" in warnings[0].msg


def test_an_unknown_search_method_is_refused(owner, dataset):
    with pytest.raises(ValueError, match="Unknown search method"):
        chunk_search(user=owner, query="x", dataset_ids=[dataset.pk], method="magic")
