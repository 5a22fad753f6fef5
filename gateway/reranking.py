"""Reranking for the project's own use (a dataset search's candidates), through the proxy.

``rerank`` asks the deployment's reranker (``AIPORTAL_RERANK_MODEL``, a cross-encoder vLLM
serves with its Jina/Cohere-style ``POST /v1/rerank``) how relevant each document is to a
query: one non-streaming request through ``answer_once``, so the same admission, routing to
the workers that serve the model, residency (``allowed_regions``: the documents are a
dataset's text, they go only where the dataset may), failover between workers and usage
record (source ``rerank``) as any answer.

There are no retries: a reranking pass is an optional refinement inside a person's search,
bounded by ``timeout``; a caller that gets an error keeps the order it had
(datasets/selectors/rerank.py). docs/gateway/reranking.md has the details.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from gateway.callers import caller_for_user, caller_restrict
from gateway.errors import DeadlineExceeded, RerankModelUnset, UpstreamFailed
from gateway.proxy import answer_once
from gateway.request_id import request_id_start
from gateway.usage import usage_flush

# What the usage record calls a rerank request (UsageRecord.Source.RERANK).
USAGE_SOURCE = "rerank"


async def rerank(
    *,
    query: str,
    documents: Sequence[str],
    model: str | None = None,
    user: Any = None,
    allowed_regions: frozenset[str] | None = None,
    # The caller's budget, here rather than around the call: a timeout must also abandon the
    # admission queue's wait, and say so as a gateway error.
    timeout: float | None = None,  # noqa: ASYNC109
) -> list[float]:
    """One relevance score per document, in the order of ``documents`` (higher: more
    relevant; a cross-encoder's scores are comparable within one call only).

    ``model``: the deployment's reranker when None. ``user``: whom the request is for (their
    policies, budget and model access apply; the usage record names them). ``allowed_regions``:
    where the texts may be sent (the searched datasets' residency), a hard filter on top of
    the user's own. ``timeout``: seconds for the whole request, failovers included; past it
    the request is abandoned (the worker's connection closed) and ``DeadlineExceeded`` is
    raised. Raises ``GatewayError`` (``RerankModelUnset`` when there is no model to use);
    ``ValueError`` for a text that is not a string, before anything is sent.
    """
    model = model or settings.AIPORTAL_RERANK_MODEL
    if not model:
        raise RerankModelUnset()
    if not isinstance(query, str):
        raise ValueError("The query to rerank by must be a string.")
    documents = list(documents)
    for document in documents:
        if not isinstance(document, str):
            raise ValueError(
                f"Every document to rerank must be a string, not {type(document).__name__}."
            )
    if not documents:
        return []
    caller = await caller_for_user(user)
    caller = replace(caller_restrict(caller, allowed_regions), usage_source=USAGE_SOURCE)
    body = {"model": model, "query": query, "documents": documents}
    request_id_start()  # one id for the request, its attempts, usage record and logs
    try:
        async with asyncio.timeout(timeout):
            answer = await answer_once(
                path="rerank", body=body, caller=caller, usage_of=_usage_counts
            )
    except TimeoutError:
        raise DeadlineExceeded(f"The reranker did not answer within {timeout:.2f} s.") from None
    return _scores(answer, expected=len(documents))


def _usage_counts(answer: dict[str, Any]) -> tuple[dict[str, int], int | None]:
    """vLLM's rerank answer counts ``usage.total_tokens`` only: every one is a prompt token."""
    usage = answer.get("usage")
    total = usage.get("total_tokens") if isinstance(usage, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        return {}, None
    return {"prompt_tokens": total, "completion_tokens": 0, "total_tokens": total}, None


def _scores(answer: dict[str, Any], *, expected: int) -> list[float]:
    """The scores in input order (vLLM sorts ``results`` by relevance, each with its
    ``index``); exactly one per document, or the answer is not trusted at all."""
    results = answer.get("results")
    by_index: dict[int, float] = {}
    if isinstance(results, list):
        for item in results:
            if not isinstance(item, dict):
                continue
            index, score = item.get("index"), item.get("relevance_score")
            if (
                isinstance(index, int)
                and not isinstance(index, bool)
                and isinstance(score, (int, float))
                and not isinstance(score, bool)
                and math.isfinite(score)
            ):
                by_index[index] = float(score)
    if sorted(by_index) != list(range(expected)):
        raise UpstreamFailed(
            f"The reranker's answer did not hold one score for each of the {expected} documents."
        )
    return [by_index[index] for index in range(expected)]


def rerank_blocking(**arguments: Any) -> list[float]:
    """``rerank`` for synchronous code (a search in a view, a task, the admin). From a
    thread that an event loop handed work to (Daphne's), the call runs in that loop; from
    any other, in a loop of its own that ends with the call, so the usage record queued for
    it is written before returning, not lost with that loop."""

    async def reranked() -> list[float]:
        try:
            return await rerank(**arguments)
        finally:
            await usage_flush()

    return async_to_sync(reranked)()
