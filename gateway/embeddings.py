"""Embeddings for the project's own use (a dataset's chunks and queries), through the proxy.

``embed`` sends texts to the deployment's embedding model (``AIPORTAL_EMBEDDING_MODEL``) in
batches of ``AIPORTAL_EMBEDDING_BATCH``, each batch one non-streaming ``/v1/embeddings``
request through ``completion_once``: the same admission (budgets, the stream slot, model
access), routing (the workers that serve the model, in the regions allowed), failover
between workers and usage record as any answer. An embedding is a prompt: the text goes to a
worker, so a dataset's residency (``allowed_regions``) narrows the workers exactly as it
narrows a chat's, and is never relaxed to find one.

On top of the proxy's failover within one request, a batch that fails with a retryable error
(no worker up right now, all of them busy, a worker that died on it) is sent again after a
backoff that doubles, at most ``AIPORTAL_EMBEDDING_RETRIES`` times; then the error goes to
the caller as the proxy raised it, so its ``retryable`` flag still says whether a later
refill may succeed. Batches go one after another: a refill takes one stream slot, not the
pool. docs/gateway/embeddings.md has the details.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.conf import settings

from gateway.callers import Caller, caller_for_user, caller_restrict
from gateway.errors import EmbeddingModelUnset, GatewayError, UpstreamFailed
from gateway.proxy import completion_once
from gateway.request_id import request_id_start

logger = logging.getLogger(__name__)

# What the usage record calls an embedding request (UsageRecord.Source.EMBEDDING).
USAGE_SOURCE = "embed"
# A retryable error that asks for a longer wait than this (a daily budget that resets at
# midnight) is not waited for: the caller gets it at once.
RETRY_AFTER_MAX = 30.0


async def embed(
    *,
    texts: Sequence[str],
    model: str | None = None,
    user: Any = None,
    allowed_regions: frozenset[str] | None = None,
) -> list[list[float]]:
    """One vector per text, in the order of ``texts``.

    ``model``: the deployment's embedding model when None. ``user``: whom the requests are
    for (their policies, budgets and model access apply, and the usage records name them);
    None for the project's own work (a dataset refill), recorded under no user.
    ``allowed_regions``: the regions the texts may be sent to (a dataset's residency), a hard
    filter on top of the user's own. Raises ``GatewayError`` (``EmbeddingModelUnset`` when
    there is no model to use); ``ValueError`` for a text that is not a string, before
    anything is sent.
    """
    model = model or settings.AIPORTAL_EMBEDDING_MODEL
    if not model:
        raise EmbeddingModelUnset()
    texts = list(texts)
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"Every text to embed must be a string, not {type(text).__name__}.")
    if not texts:
        return []
    caller = await caller_for_user(user)
    caller = replace(caller_restrict(caller, allowed_regions), usage_source=USAGE_SOURCE)
    size = settings.AIPORTAL_EMBEDDING_BATCH
    vectors: list[list[float]] = []
    for start in range(0, len(texts), size):
        vectors += await _batch_embedded(texts[start : start + size], model=model, caller=caller)
    if len({len(vector) for vector in vectors}) > 1:
        # Two workers serving the "same" model with different dimensions: never mix them.
        raise UpstreamFailed("The embedding workers returned vectors of different lengths.")
    return vectors


async def _batch_embedded(batch: list[str], *, model: str, caller: Caller) -> list[list[float]]:
    body = {"model": model, "input": batch, "encoding_format": "float"}
    retries = 0
    while True:
        request_id_start()  # one id per request, for its attempts, usage record and logs
        try:
            answer = await completion_once(endpoint="embeddings", body=body, caller=caller)
            return _vectors(answer, expected=len(batch))
        except GatewayError as exc:
            wait = _retry_wait(exc, retries)
            if wait is None:
                raise
            retries += 1
            logger.info(
                "embedding batch of %d failed (%s), try %d in %.2f s",
                len(batch),
                exc.code,
                retries + 1,
                wait,
            )
            await asyncio.sleep(wait)


def _retry_wait(exc: GatewayError, retries: int) -> float | None:
    """Seconds to wait before sending the batch again, or None to give up."""
    if not exc.retryable or retries >= settings.AIPORTAL_EMBEDDING_RETRIES:
        return None
    asked = float(getattr(exc, "retry_after", 0.0) or 0.0)
    if asked > RETRY_AFTER_MAX:
        return None
    # Doubling, with jitter so that refills that failed together do not return together.
    backoff = settings.AIPORTAL_EMBEDDING_BACKOFF * 2**retries * random.uniform(0.5, 1.0)  # noqa: S311
    return max(backoff, asked)


def _vectors(answer: dict[str, Any], *, expected: int) -> list[list[float]]:
    """The answer's vectors in input order (vLLM lists them by ``index``)."""
    data = answer.get("data")
    by_index: dict[int, list[float]] = {}
    if isinstance(data, list):
        for item in data:
            if not isinstance(item, dict):
                continue
            index, vector = item.get("index"), item.get("embedding")
            if (
                isinstance(index, int)
                and isinstance(vector, list)
                and vector
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector)
            ):
                by_index[index] = [float(x) for x in vector]
    if sorted(by_index) != list(range(expected)):
        raise UpstreamFailed(
            f"The embedding worker's answer did not hold one vector for each of the "
            f"{expected} inputs."
        )
    return [by_index[index] for index in range(expected)]
