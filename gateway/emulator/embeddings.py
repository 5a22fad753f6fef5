"""``POST /v1/embeddings`` as vLLM's pooling runner answers it.

There is no model: each input's vector is a deterministic function of the model name and the
input alone (SHAKE-256 of both, read as ``embedding_dim`` numbers in [-1, 1), then scaled to
unit length as vLLM normalises embeddings by default). The same input always gives the same
vector, on every emulator; different inputs give unrelated ones — no semantics.

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
    raw = hashlib.shake_256(f"{model}\0{text}".encode()).digest(4 * dim)
    return _unit([n * _SCALE - 1.0 for n in struct.unpack(f"<{dim}I", raw)])


def _unit(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    # Rounded through float32, as vLLM's vectors are float32 tensors.
    packed = struct.pack(f"<{len(values)}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{len(values)}f", packed))


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def embedding_response(request: EmbeddingRequest, config: EmulatorConfig) -> dict[str, Any]:
    dim = request.dimensions or config.embedding_dim
    data = []
    for index, (text, _) in enumerate(request.inputs):
        vector = embedding_vector(request.model, text, config.embedding_dim)
        if dim != config.embedding_dim:
            vector = _unit(vector[:dim])
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
