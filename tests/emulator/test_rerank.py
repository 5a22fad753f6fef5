"""POST /v1/rerank and /v1/score: vLLM's shapes, deterministic scores that reward the words a
query and a document share, the faults that make a reranker slow or dead."""

from __future__ import annotations

import asyncio
import time

from gateway.emulator.rerank import pair_score

from .helpers import MODEL

QUERY = "how do I configure the database"
DOCUMENTS = [
    "The weather in Paris is mild in spring.",
    "Database configuration: set DATABASE_URL.",
    "Configuring databases and their settings.",
]


def test_documents_sharing_the_query_s_words_score_higher_and_always_the_same():
    scores = [pair_score(QUERY, d) for d in DOCUMENTS]
    assert scores[0] < 0.1 < scores[2] and scores[1] > 0.3
    assert scores == [pair_score(QUERY, d) for d in DOCUMENTS]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert pair_score(QUERY, QUERY) > max(scores)


async def test_rerank_answers_in_vllm_s_shape_sorted_by_relevance(url, client):
    response = await client.post(
        f"{url}/v1/rerank", json={"model": MODEL, "query": QUERY, "documents": DOCUMENTS}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("rerank-") and body["model"] == MODEL
    assert body["usage"]["total_tokens"] > 0
    results = body["results"]
    assert [r["index"] for r in results] == sorted(
        range(3), key=lambda i: -pair_score(QUERY, DOCUMENTS[i])
    )
    assert results[0]["document"] == {"text": DOCUMENTS[results[0]["index"]]}
    assert [r["relevance_score"] for r in results] == sorted(
        (r["relevance_score"] for r in results), reverse=True
    )
    # top_n keeps the best; the path without /v1 answers the same.
    top = await client.post(
        f"{url}/rerank", json={"model": MODEL, "query": QUERY, "documents": DOCUMENTS, "top_n": 1}
    )
    assert [r["index"] for r in top.json()["results"]] == [results[0]["index"]]


async def test_score_pairs_one_text_with_each_or_two_lists_one_to_one(url, client):
    one = await client.post(
        f"{url}/v1/score", json={"model": MODEL, "text_1": QUERY, "text_2": DOCUMENTS}
    )
    body = one.json()
    assert body["object"] == "list" and body["id"].startswith("score-")
    assert [(d["index"], d["object"]) for d in body["data"]] == [(i, "score") for i in range(3)]
    assert [d["score"] for d in body["data"]] == [pair_score(QUERY, d) for d in DOCUMENTS]
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    mismatched = await client.post(
        f"{url}/v1/score", json={"model": MODEL, "text_1": ["a", "b"], "text_2": ["c"]}
    )
    assert mismatched.status_code == 400


async def test_bad_requests_are_refused_as_vllm_does(url, client):
    unknown = await client.post(
        f"{url}/v1/rerank", json={"model": "nope", "query": "q", "documents": ["d"]}
    )
    assert unknown.status_code == 404
    for body in ({"model": MODEL, "documents": ["d"]}, {"model": MODEL, "query": "q"}):
        assert (await client.post(f"{url}/v1/rerank", json=body)).status_code == 400
    too_long = {"model": MODEL, "query": "q", "documents": ["word " * 9000]}
    assert (await client.post(f"{url}/v1/rerank", json=too_long)).status_code == 400


async def test_a_stalled_reranker_answers_late_and_a_refusing_one_at_once(url, client):
    body = {"model": MODEL, "query": QUERY, "documents": DOCUMENTS}
    stall = {"stall_after_tokens": 0, "stall_seconds": 0.4, "times": 1}
    await client.post(f"{url}/emulator/faults", json=stall)
    started = time.monotonic()
    assert (await client.post(f"{url}/v1/rerank", json=body)).status_code == 200
    assert time.monotonic() - started >= 0.4
    await client.post(f"{url}/emulator/faults", json={"status_500": True, "times": 1})
    assert (await client.post(f"{url}/v1/rerank", json=body)).status_code == 500
    # A stall without an end holds the answer until the client leaves.
    await client.post(f"{url}/emulator/faults", json={"stall_after_tokens": 0, "times": 1})
    try:
        await asyncio.wait_for(client.post(f"{url}/v1/rerank", json=body), 0.3)
    except TimeoutError:
        pass
    else:
        raise AssertionError("the stalled answer came")
