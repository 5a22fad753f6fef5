"""``gateway.embed``: texts to vectors through the proxy (batches, order, failover, residency,
usage records, retries), against emulators running as real processes."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

import gateway
from gateway.emulator.embeddings import embedding_vector
from gateway.errors import (
    EmbeddingModelUnset,
    ModelUnavailable,
    OverBudget,
    RegionUnavailable,
    UpstreamFailed,
    UpstreamRejected,
)
from gateway.models import Policy, UsageRecord
from gateway.usage import usage_flush
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    emulator_state,
    emulators_fixture,
    faults_set,
    gateway_isolated_fixture,
    snapshot_ready,
)

TEXTS = [f"passage {n} about {topic}" for n, topic in enumerate("abcdefgh")]


@pytest.fixture(autouse=True)
async def _close_thread_connections():
    yield
    # The async ORM ran in asgiref's threads: close their connections, or the test
    # database cannot be dropped at the end of the session.
    await sync_to_async(connections.close_all)()


@pytest.fixture(autouse=True)
def _embedding_settings(settings):
    settings.AIPORTAL_EMBEDDING_MODEL = MODEL
    settings.AIPORTAL_EMBEDDING_BACKOFF = 0.01  # retries in milliseconds, not seconds


async def _one_worker(emulators, pool, *flags: str, region: str = "test-a") -> str:
    url = emulators(*flags, region=region)
    pool(f"{url}@{region}")
    await snapshot_ready(url)
    return url


async def _records(**filters) -> list[UsageRecord]:
    await usage_flush()
    rows = UsageRecord.objects.filter(source="embed", **filters).order_by("created_at", "pk")
    return [row async for row in rows]


async def test_vectors_come_back_in_input_order_in_batches_of_the_setting(
    emulators, pool, settings, transactional_db
):
    settings.AIPORTAL_EMBEDDING_BATCH = 3
    url = await _one_worker(emulators, pool)

    vectors = await gateway.embed(texts=TEXTS)

    assert vectors == [embedding_vector(MODEL, text, 384) for text in TEXTS]
    # Eight texts in batches of three: three requests, the last one short.
    assert (await emulator_state(url))["embedding_batches"] == [3, 3, 2]


async def test_a_batch_no_bigger_than_the_setting_is_one_request(emulators, pool, transactional_db):
    url = await _one_worker(emulators, pool)
    assert len(await gateway.embed(texts=TEXTS)) == len(TEXTS)
    assert (await emulator_state(url))["embedding_batches"] == [len(TEXTS)]
    assert await gateway.embed(texts=[]) == []  # nothing to embed, nothing sent
    assert (await emulator_state(url))["embedding_batches"] == [len(TEXTS)]


async def test_a_worker_that_dies_before_answering_is_left_for_the_next(
    emulators, pool, transactional_db, owner
):
    # The dying worker is in the user's home region, so routing tries it first.
    await sync_to_async(Policy.objects.create)(user=owner, home_region="home")
    dying, healthy = emulators.many(("home",), ("away",))
    pool(f"{dying}@home", f"{healthy}@away")
    await snapshot_ready(dying, healthy)
    await faults_set(dying, die_after_tokens=0)  # closes the connection, no answer

    vectors = await gateway.embed(texts=TEXTS[:2], user=owner)

    assert vectors == [embedding_vector(MODEL, text, 384) for text in TEXTS[:2]]
    assert (await emulator_state(dying))["embedding_batches"] == []
    assert (await emulator_state(healthy))["embedding_batches"] == [2]
    [record] = await _records(user=owner)
    assert record.failovers == 1 and record.worker == healthy.removeprefix("http://")


async def test_a_worker_outside_the_allowed_regions_is_never_used_even_if_alone(
    emulators, pool, settings, transactional_db
):
    settings.AIPORTAL_EMBEDDING_RETRIES = 1
    url = await _one_worker(emulators, pool, region="us-east")

    with pytest.raises(RegionUnavailable) as refused:
        await gateway.embed(texts=TEXTS[:2], allowed_regions=frozenset({"eu-west"}))

    assert "eu-west" in refused.value.detail
    assert (await emulator_state(url))["embedding_batches"] == []
    # The same worker embeds what may go to its region.
    await gateway.embed(texts=TEXTS[:2], allowed_regions=frozenset({"us-east", "eu-west"}))
    assert (await emulator_state(url))["embedding_batches"] == [2]


async def test_a_user_s_own_residency_applies_on_top_of_the_dataset_s(
    emulators, pool, settings, transactional_db, owner
):
    settings.AIPORTAL_EMBEDDING_RETRIES = 0
    url = await _one_worker(emulators, pool, region="us-east")
    await sync_to_async(Policy.objects.create)(user=owner, allowed_regions="eu-west")

    with pytest.raises(RegionUnavailable):
        await gateway.embed(texts=["x"], user=owner, allowed_regions=frozenset({"us-east"}))
    assert (await emulator_state(url))["embedding_batches"] == []


async def test_each_request_leaves_a_usage_record_for_the_user_or_for_no_one(
    emulators, pool, settings, transactional_db, owner
):
    settings.AIPORTAL_EMBEDDING_BATCH = 5
    url = await _one_worker(emulators, pool)

    await gateway.embed(texts=TEXTS, user=owner)  # a query's embedding, for a person
    await gateway.embed(texts=TEXTS[:1])  # a refill's, for no one

    mine = await _records(user=owner)
    assert [r.prompt_tokens for r in mine] == [
        sum(len(text.split()) for text in TEXTS[:5]),
        sum(len(text.split()) for text in TEXTS[5:]),
    ]
    for record in mine:
        assert record.model == MODEL and record.outcome == "complete"
        assert record.completion_tokens == 0 and record.region == "test-a"
        assert record.worker == url.removeprefix("http://")
        assert record.request_id
    assert mine[0].request_id != mine[1].request_id  # one id per request
    [refill] = await _records(user=None)
    assert refill.prompt_tokens == len(TEXTS[0].split()) and refill.outcome == "complete"


async def test_a_batch_that_keeps_failing_is_retried_within_the_bound_then_fails(
    emulators, pool, settings, transactional_db
):
    settings.AIPORTAL_EMBEDDING_RETRIES = 2
    settings.AIPORTAL_EMBEDDING_BACKOFF = 0.1
    url = await _one_worker(emulators, pool)
    await faults_set(url, status_500=True, times=5)

    started = time.monotonic()
    with pytest.raises(UpstreamFailed) as failed:
        await gateway.embed(texts=TEXTS[:2])

    assert failed.value.retryable
    # The first request and two retries: three of the five faults used, none more.
    assert (await emulator_state(url))["faults"]["remaining"] == 2
    # Backoffs of 0.1 s then 0.2 s, each at least half that with jitter.
    assert time.monotonic() - started >= 0.15
    assert [r.outcome for r in await _records()] == ["error"] * 3


async def test_a_batch_that_fails_for_a_moment_succeeds_on_a_retry(
    emulators, pool, transactional_db
):
    url = await _one_worker(emulators, pool)
    await faults_set(url, status_500=True, times=2)

    assert await gateway.embed(texts=["hello"]) == [embedding_vector(MODEL, "hello", 384)]
    assert (await emulator_state(url))["embedding_batches"] == [1]


async def test_a_spent_daily_budget_is_not_waited_for(emulators, pool, transactional_db, owner):
    await sync_to_async(Policy.objects.create)(user=owner, daily_token_budget=5)
    url = await _one_worker(emulators, pool)
    await gateway.embed(texts=TEXTS[:2], user=owner)  # 8 tokens: the budget is spent

    started = time.monotonic()
    with pytest.raises(OverBudget) as spent:
        await gateway.embed(texts=["one more"], user=owner)

    # Retryable tomorrow, but no retry waits until midnight: the caller hears at once.
    assert spent.value.retryable and time.monotonic() - started < 2
    assert (await emulator_state(url))["embedding_batches"] == [2]


async def test_a_permanent_error_is_not_retried(emulators, pool, transactional_db):
    url = await _one_worker(emulators, pool, "--max-model-len", "16")
    await faults_set(url, status_500=True, times=5)  # would be used by any retry

    with pytest.raises(UpstreamRejected) as rejected:
        await gateway.embed(texts=["word " * 40])

    assert not rejected.value.retryable
    assert "maximum context length" in rejected.value.detail
    assert (await emulator_state(url))["faults"]["remaining"] == 5  # refused before faults


async def test_no_worker_serving_the_model_is_a_clear_retryable_error(
    emulators, pool, settings, transactional_db
):
    settings.AIPORTAL_EMBEDDING_RETRIES = 1
    url = await _one_worker(emulators, pool)

    with pytest.raises(ModelUnavailable) as unavailable:
        await gateway.embed(texts=["x"], model="no-such-embedder")

    assert unavailable.value.retryable and "no-such-embedder" in unavailable.value.detail
    assert (await emulator_state(url))["embedding_batches"] == []


async def test_without_an_embedding_model_nothing_is_sent(
    emulators, pool, settings, transactional_db
):
    settings.AIPORTAL_EMBEDDING_MODEL = ""
    url = await _one_worker(emulators, pool)

    with pytest.raises(EmbeddingModelUnset) as unset:
        await gateway.embed(texts=["x"])
    assert not unset.value.retryable and "AIPORTAL_EMBEDDING_MODEL" in unset.value.detail
    with pytest.raises(ValueError, match="must be a string"):
        await gateway.embed(texts=["x", 3], model=MODEL)  # type: ignore[list-item]
    assert (await emulator_state(url))["embedding_batches"] == []
