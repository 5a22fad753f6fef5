"""``gateway.rerank``: scores in the documents' order through the proxy, the wire format's
checks, and what it refuses before sending anything. (Failover, residency, budgets and the
usage record are the proxy's, tested with embeddings and answers; calls against a worker,
slow and dead ones included, are the search's: tests/datasets/test_rerank.py.)"""

from __future__ import annotations

import pytest

import gateway
from gateway.errors import RerankModelUnset, UpstreamFailed
from gateway.reranking import _scores, _usage_counts

MODEL = "aiportal-emulator"


def test_scores_come_back_in_input_order_whatever_order_the_answer_lists():
    answer = {
        "results": [{"index": 1, "relevance_score": 0.9}, {"index": 0, "relevance_score": 0.1}]
    }
    assert _scores(answer, expected=2) == [0.1, 0.9]


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"results": [{"index": 0, "relevance_score": 0.5}]},  # one missing
        {"results": [{"index": 0, "relevance_score": "high"}, {"index": 1, "relevance_score": 1}]},
        {
            "results": [
                {"index": 0, "relevance_score": float("nan")},
                {"index": 1, "relevance_score": 1},
            ]
        },
        {"results": [{"index": 0, "relevance_score": 1}, {"index": 2, "relevance_score": 1}]},
    ],
)
def test_an_answer_without_one_number_per_document_is_not_trusted(answer):
    with pytest.raises(UpstreamFailed):
        _scores(answer, expected=2)


def test_the_tokens_read_count_as_prompt_tokens():
    assert _usage_counts({"usage": {"total_tokens": 42}}) == (
        {"prompt_tokens": 42, "completion_tokens": 0, "total_tokens": 42},
        None,
    )
    assert _usage_counts({}) == ({}, None)


async def test_without_a_model_nothing_is_sent(settings):
    settings.AIPORTAL_RERANK_MODEL = ""
    with pytest.raises(RerankModelUnset):
        await gateway.rerank(query="q", documents=["d"])
    with pytest.raises(ValueError, match="string"):
        await gateway.rerank(query="q", documents=[3], model=MODEL)
    assert await gateway.rerank(query="q", documents=[], model=MODEL) == []
