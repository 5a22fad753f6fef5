"""``POST /v1/rerank`` and ``POST /v1/score`` as vLLM serves them for a cross-encoder.

There is no model, but the scores mean something: a document scores higher the more of the
query's words (and parts of words) it shares, weighted as the emulator's embeddings weigh
them (gateway/emulator/embedding_features.py: stems, stop words dropped, character 3- to
5-grams). A pair's score is the cosine of the two texts' feature weights, in [0, 1] like a
cross-encoder's sigmoid output, rounded through float32; the same pair always scores the
same, on every emulator. Every served model answers (as every one embeds).

Shapes (vLLM's ``RerankResponse`` and ``ScoreResponse``): rerank takes ``{"model", "query",
"documents": [str…], "top_n"}`` and answers ``{"id": "rerank-…", "model", "usage":
{"total_tokens"}, "results": [{"index", "document": {"text"}, "relevance_score"}]}``, the
results sorted by score (highest first), ``top_n`` of them when it is given and above 0.
Score takes ``{"model", "text_1", "text_2"}`` (a string and a list scores the string against
each; two lists pair up one to one) and answers ``{"id": "score-…", "object": "list",
"created", "model", "data": [{"index", "object": "score", "score"}], "usage"}``.
"""

from __future__ import annotations

import math
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from . import wire
from .config import EmulatorConfig
from .embedding_features import text_features
from .protocol import ApiError, model_not_found
from .tokens import tokenize

# A cross-encoder reads "[CLS] query [SEP] document [SEP]": three special tokens per pair.
SPECIAL_TOKENS = 3


@dataclass(frozen=True)
class ScoreRequest:
    model: str
    # The (query, document) pairs, in the order the answer lists them.
    pairs: list[tuple[str, str]]
    # rerank: how many results to return (0: all); None for /v1/score.
    top_n: int | None
    tokens: int


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _model(body: dict[str, Any], config: EmulatorConfig) -> str:
    model = body.get("model", config.models[0])
    if not isinstance(model, str):
        raise _bad("model must be a string")
    if model not in config.models:
        raise model_not_found(model, config)
    return model


def _texts(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise _bad(f"{name} must be a string or a non-empty list of strings")


def _counted(
    model: str, pairs: list[tuple[str, str]], top_n: int | None, config: EmulatorConfig
) -> ScoreRequest:
    tokens = 0
    for query, document in pairs:
        count = len(tokenize(query)) + len(tokenize(document)) + SPECIAL_TOKENS
        if count > config.max_model_len:
            raise _bad(
                f"This model's maximum context length is {config.max_model_len} tokens. "
                f"However, you requested {count} tokens in the input for scoring. Please "
                "reduce the length of the input."
            )
        tokens += count
    return ScoreRequest(model=model, pairs=pairs, top_n=top_n, tokens=tokens)


def parse_rerank(body: Any, config: EmulatorConfig) -> ScoreRequest:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    model = _model(body, config)
    query = body.get("query")
    if not isinstance(query, str):
        raise _bad("query must be a string")
    documents = body.get("documents")
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise _bad("documents must be a list of strings")
    top_n = body.get("top_n", 0)
    if isinstance(top_n, bool) or not isinstance(top_n, int):
        raise _bad("top_n must be an integer")
    return _counted(model, [(query, document) for document in documents], top_n, config)


def parse_score(body: Any, config: EmulatorConfig) -> ScoreRequest:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    model = _model(body, config)
    firsts, seconds = _texts(body.get("text_1"), "text_1"), _texts(body.get("text_2"), "text_2")
    if len(firsts) == 1:
        firsts = firsts * len(seconds)
    if len(firsts) != len(seconds):
        raise _bad("text_1 and text_2 must have the same length, or text_1 be one text")
    return _counted(model, list(zip(firsts, seconds, strict=True)), None, config)


def pair_score(query: str, document: str) -> float:
    """How much of the query the document is about: the cosine of their features' weights."""
    left, right = text_features(query), text_features(document)
    shared = sum(weight * right[feature] for feature, weight in left.items() if feature in right)
    norms = math.sqrt(sum(w * w for w in left.values())) * math.sqrt(
        sum(w * w for w in right.values())
    )
    score = shared / norms if norms else 0.0
    # Rounded through float32, as a model's logits are.
    return float(struct.unpack("<f", struct.pack("<f", min(1.0, score)))[0])


def rerank_response(request: ScoreRequest) -> dict[str, Any]:
    scored = [
        (index, document, pair_score(query, document))
        for index, (query, document) in enumerate(request.pairs)
    ]
    scored.sort(key=lambda item: (-item[2], item[0]))
    if request.top_n:
        scored = scored[: request.top_n]
    return {
        "id": f"rerank-{uuid.uuid4().hex}",
        "model": request.model,
        "usage": {"total_tokens": request.tokens},
        "results": [
            {"index": index, "document": {"text": document}, "relevance_score": score}
            for index, document, score in scored
        ],
    }


def score_response(request: ScoreRequest, config: EmulatorConfig) -> dict[str, Any]:
    data = [
        {"index": index, "object": "score", "score": pair_score(query, document)}
        for index, (query, document) in enumerate(request.pairs)
    ]
    return {
        "id": f"score-{uuid.uuid4().hex}",
        "object": "list",
        "created": int(time.time()),
        "model": request.model,
        "data": data,
        "usage": wire.embedding_usage(request.tokens)
        if config.current
        else {
            "prompt_tokens": request.tokens,
            "total_tokens": request.tokens,
            "completion_tokens": 0,
            "prompt_tokens_details": None,
        },
    }


def score_seconds(request: ScoreRequest, config: EmulatorConfig) -> float:
    """One forward pass over every pair: the fixed overhead plus prefill of every token."""
    latency = config.latency
    return latency.ttft_ms / 1000.0 + request.tokens / latency.prefill_tokens_per_second
