"""The reranking pass of a search, end to end against the session's emulated worker: the
hits come back in the order the emulator's reranker scores them, through the gateway (usage
record, residency); a slow, dead or unset reranker leaves the search's own order, in time."""

from __future__ import annotations

import time

import httpx
import pytest
from django.test import Client

from datasets.selectors import chunk_search, hits_rerank
from datasets.services import dataset_update
from gateway.emulator.rerank import pair_score
from gateway.models import UsageRecord

# Transactional: the gateway reads the person's policies from other threads.
pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "aiportal-emulator"
QUERY = "zebrafish leave days"
FILES = {
    # Full-text ranks this one first (the query's words, over and over); the reranker, which
    # weighs what the texts share against all they say, prefers the short one on topic.
    "long.txt": "Zebrafish zebrafish zebrafish. Leave the tank. Days and days of filters, "
    "pumps, gravel, lights, heaters, nets, food, water tests and other aquarium chores.",
    "short.txt": "Zebrafish leave: thirty days.",
    "other.txt": "Days off are booked in the calendar.",
}


@pytest.fixture(autouse=True)
def reranker(settings, workers):
    settings.AIPORTAL_RERANK_MODEL = MODEL
    settings.AIPORTAL_RERANK_BUDGET = 5.0
    yield workers
    httpx.delete(f"{workers}/emulator/faults").raise_for_status()


@pytest.fixture
def handbook(dataset, upload, refill_now):
    upload(dataset, FILES)
    refill_now(dataset)
    return dataset


def _fulltext(user, dataset):
    return chunk_search(user=user, query=QUERY, dataset_ids=[dataset.pk], rerank=False)


def test_hits_come_back_in_the_order_the_reranker_scores_them(handbook, owner, settings):
    before = _fulltext(owner, handbook)
    assert [h.key for h in before][:2] == ["upload:long.txt", "upload:short.txt"]

    hits = chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk])

    expected = sorted(before, key=lambda h: -pair_score(QUERY, h.text))
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in expected]
    assert hits[0].key == "upload:short.txt"
    assert [h.score for h in hits] == [pytest.approx(pair_score(QUERY, h.text)) for h in hits]
    assert {h.method for h in hits} == {"rerank"}
    # One request, on the person's account, under its own source.
    [record] = UsageRecord.objects.filter(source="rerank")
    assert record.user == owner and record.outcome == "complete" and record.prompt_tokens > 0

    # More candidates are reranked than are returned: the best of them come back.
    settings.AIPORTAL_RERANK_CANDIDATES = 3
    hits = chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk], limit=1)
    assert [h.key for h in hits] == ["upload:short.txt"]  # second in full-text, first here

    # The dataset page's "Try a query" says so.
    client = Client()
    client.force_login(owner)
    response = client.get(f"/datasets/{handbook.pk}/", {"q": QUERY})
    assert response.context["tried"][0].hit.key == "upload:short.txt"
    assert "ranked by: Reranked" in response.content.decode()


def test_a_slow_dead_forbidden_or_unset_reranker_leaves_the_order_without_error(
    handbook, owner, settings, reranker
):
    before = _fulltext(owner, handbook)

    # Slow: abandoned at the budget, long before the worker would answer.
    settings.AIPORTAL_RERANK_BUDGET = 0.3
    stall = 20.0
    httpx.post(
        f"{reranker}/emulator/faults",
        json={"stall_after_tokens": 0, "stall_seconds": stall, "times": 1},
    ).raise_for_status()
    started = time.monotonic()
    hits, reranked = hits_rerank(query=QUERY, hits=before, user=owner, allowed_regions=None)
    assert time.monotonic() - started < stall / 2
    assert reranked is False and hits == before
    settings.AIPORTAL_RERANK_BUDGET = 5.0

    # Outside the dataset's regions: the only worker (test-a) is never tried.
    def sent_to_a_worker() -> int:
        return UsageRecord.objects.filter(source="rerank").exclude(worker="").count()

    # (the abandoned request above was recorded, as stopped, when the budget ended it)
    sent = sent_to_a_worker()
    dataset_update(dataset=handbook, user=owner, allowed_regions="eu-west")
    assert chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk]) == before
    assert sent_to_a_worker() == sent
    dataset_update(dataset=handbook, user=owner, allowed_regions="")

    # Dead: nothing listens where the worker was.
    settings.AIPORTAL_WORKERS = "http://127.0.0.1:9@test-a"
    hits = chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk])
    assert hits == before and {h.method for h in hits} == {"fulltext"}

    # Unset: nothing is sent, even when a call asks for it.
    settings.AIPORTAL_RERANK_MODEL = ""
    sent = UsageRecord.objects.filter(source="rerank").count()
    assert chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk]) == before
    assert chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk], rerank=True) == before
    assert UsageRecord.objects.filter(source="rerank").count() == sent
