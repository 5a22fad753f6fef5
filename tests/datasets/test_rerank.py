"""The reranking pass of a search, end to end against the session's emulated worker: the
hits come back in the order the emulator's reranker scores them, through the gateway (usage
record, residency); a slow, dead or unset reranker leaves the search's own order, in time."""

from __future__ import annotations

import time

import httpx
import pytest

from datasets.selectors import chunk_search, hits_rerank
from datasets.services import dataset_update
from gateway.emulator.rerank import pair_score
from gateway.models import UsageRecord

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


def test_hits_come_back_in_the_order_the_reranker_scores_them(handbook, owner):
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


def test_only_the_limit_is_returned_though_more_candidates_are_reranked(handbook, owner, settings):
    settings.AIPORTAL_RERANK_CANDIDATES = 3
    hits = chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk], limit=1)
    assert [h.key for h in hits] == ["upload:short.txt"]  # third in full-text, first here


def test_a_slow_reranker_is_abandoned_at_the_budget_and_the_order_kept(
    handbook, owner, settings, reranker
):
    settings.AIPORTAL_RERANK_BUDGET = 0.3
    stall = 20.0
    httpx.post(
        f"{reranker}/emulator/faults",
        json={"stall_after_tokens": 0, "stall_seconds": stall, "times": 1},
    ).raise_for_status()
    before = _fulltext(owner, handbook)

    started = time.monotonic()
    hits, reranked = hits_rerank(query=QUERY, hits=before, user=owner, allowed_regions=None)

    assert time.monotonic() - started < stall / 2  # returned long before the emulator would
    assert reranked is False and hits == before


def test_a_dead_reranker_leaves_the_order_and_no_error(handbook, owner, settings):
    before = _fulltext(owner, handbook)
    settings.AIPORTAL_WORKERS = "http://127.0.0.1:9@test-a"  # nothing listens there

    hits = chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk])

    assert hits == before and {h.method for h in hits} == {"fulltext"}


def test_a_dataset_s_text_is_not_sent_outside_its_regions(handbook, owner):
    dataset_update(dataset=handbook, user=owner, allowed_regions="eu-west")
    before = _fulltext(owner, handbook)

    hits = chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk])

    # The only worker is in test-a: no worker is tried, the order stays.
    assert hits == before
    assert not UsageRecord.objects.filter(source="rerank").exclude(worker="").exists()


def test_without_a_reranker_nothing_is_sent(handbook, owner, settings):
    settings.AIPORTAL_RERANK_MODEL = ""
    hits = chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk])
    assert hits == _fulltext(owner, handbook)
    assert not UsageRecord.objects.filter(source="rerank").exists()
    # Asked for explicitly without a model: the same, never an error.
    assert chunk_search(user=owner, query=QUERY, dataset_ids=[handbook.pk], rerank=True) == hits


def test_the_try_box_says_the_passages_were_reranked(handbook, owner):
    from django.test import Client

    client = Client()
    client.force_login(owner)
    response = client.get(f"/datasets/{handbook.pk}/", {"q": QUERY})
    assert response.context["tried"][0].hit.key == "upload:short.txt"
    assert "ranked by: Reranked" in response.content.decode()
