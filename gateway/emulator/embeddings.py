"""``POST /v1/embeddings`` as vLLM's pooling runner answers it.

There is no model, but the vectors mean something: texts that share words (or parts of
words) are close, so vector and hybrid search can be tested without one. Each vector is a
hashed bag of features of the text (gateway/emulator/embedding_features.py: its words,
lower-cased, stop words dropped, lightly stemmed, and their character 3- to 5-grams), each
added with weight 1 + log(count) into one of ``embedding_dim`` buckets with a sign, both
chosen by a hash of the model name and the feature; the sum is scaled to unit length as vLLM
normalises embeddings by default. The same input always gives the same vector, on every
emulator; a different model name gives unrelated vectors, as another model would. A text
with no words at all gets one fixed unit vector per model.

Shapes follow vLLM 0.8 to 0.10 (``EmbeddingResponse``): ``{"id": "embd-…", "object": "list",
"created", "model", "data": [{"index", "object": "embedding", "embedding"}], "usage":
{"prompt_tokens", "total_tokens", "completion_tokens": 0, "prompt_tokens_details": null}}``;
``encoding_format: "base64"`` gives each vector as base64 of little-endian float32, which is
what the OpenAI SDK asks for by default.
"""

from __future__ import annotations

import base64
import hashlib
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

_SCALE = 2.0 / 2**32


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    # Each input as the emulator counts it: a text's tokens, or one opaque token per id.
    inputs: list[tuple[str, int]]
    encoding_format: str
    dimensions: int | None


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _is_ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def _one(value: Any) -> tuple[str, int]:
    if isinstance(value, str):
        return value, len(tokenize(value))
    if _is_ids(value):
        return "<" + ",".join(map(str, value)) + ">", len(value)
    raise _bad("input must be a string, a list of strings or a list of token id lists")


def parse_embedding(body: Any, config: EmulatorConfig) -> EmbeddingRequest:
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    model = body.get("model", config.models[0])
    if not isinstance(model, str):
        raise _bad("model must be a string")
    if model not in config.models:
        raise model_not_found(model, config)
    raw = body.get("input")
    if isinstance(raw, str) or _is_ids(raw):
        items = [raw]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        raise _bad("input must be a non-empty string or list")
    if model in config.minilm_models and any(_is_ids(item) for item in items):
        raise _bad(f"{model} is served by all-MiniLM-L6-v2 here, which embeds text: send strings")
    inputs = [_one(item) for item in items]
    for _, count in inputs:
        if count >= config.max_model_len:
            raise _bad(
                f"This model's maximum context length is {config.max_model_len} tokens. "
                f"However, you requested {count} tokens in the input for embedding "
                "generation. Please reduce the length of the input."
            )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise _bad("encoding_format must be 'float' or 'base64'")
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            raise _bad("dimensions must be a positive integer")
        if dimensions > config.embedding_dim:
            raise _bad(
                f"dimensions must be at most {config.embedding_dim} for this model, "
                f"got {dimensions}."
            )
    return EmbeddingRequest(
        model=model, inputs=inputs, encoding_format=encoding, dimensions=dimensions
    )


def embedding_vector(model: str, text: str, dim: int) -> list[float]:
    """The unit vector of ``dim`` floats for this model and input; the first ``d`` numbers
    of a longer vector, renormalised, are the ``dimensions=d`` vector (Matryoshka style)."""
    values = [0.0] * dim
    for feature, weight in text_features(text).items():
        bucket, negative = _bucket(model, feature, dim)
        values[bucket] += -weight if negative else weight
    if not any(values):
        # No words (or features that cancelled out): one fixed vector per model.
        raw = hashlib.shake_256(f"{model}\0".encode()).digest(4 * dim)
        values = [n * _SCALE - 1.0 for n in struct.unpack(f"<{dim}I", raw)]
    return _unit(values)


def _bucket(model: str, feature: str, dim: int) -> tuple[int, bool]:
    """Signed hashing: the feature's bucket and whether it counts negatively there, so that
    unrelated features that share a bucket cancel out on average instead of adding up."""
    digest = hashlib.blake2b(f"{model}\0{feature}".encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "little")
    return (number >> 1) % dim, bool(number & 1)


def _unit(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # Rounded through float32, as vLLM's vectors are float32 tensors.
    packed = struct.pack(f"<{len(values)}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{len(values)}f", packed))


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def embedding_response(
    request: EmbeddingRequest,
    config: EmulatorConfig,
    *,
    vectors: list[list[float]] | None = None,
) -> dict[str, Any]:
    """The answer; ``vectors``: the inputs' full-length vectors when a real model made them
    (minilm.py), else the hashed ones are made here."""
    dim = request.dimensions or config.embedding_dim
    data = []
    for index, (text, _) in enumerate(request.inputs):
        if vectors is not None:
            vector = vectors[index]
        else:
            vector = embedding_vector(request.model, text, config.embedding_dim)
        if dim != config.embedding_dim:
            # A short text's features may all lie beyond the head: then the fixed vector.
            head = vector[:dim]
            vector = _unit(head) if any(head) else embedding_vector(request.model, "", dim)
        embedding = _encode(vector, request.encoding_format)
        data.append({"index": index, "object": "embedding", "embedding": embedding})
    prompt_tokens = sum(count for _, count in request.inputs)
    return {
        "id": f"embd-{uuid.uuid4().hex}",
        "object": "list",
        "created": int(time.time()),
        "model": request.model,
        "data": data,
        "usage": wire.embedding_usage(prompt_tokens)
        if config.current
        else {
            "prompt_tokens": prompt_tokens,
            "total_tokens": prompt_tokens,
            "completion_tokens": 0,
            "prompt_tokens_details": None,
        },
    }


def embedding_seconds(request: EmbeddingRequest, config: EmulatorConfig) -> float:
    """One forward pass over the inputs: the fixed overhead plus prefill of every token."""
    tokens = sum(count for _, count in request.inputs)
    latency = config.latency
    return latency.ttft_ms / 1000.0 + tokens / latency.prefill_tokens_per_second
