"""A chat continuation for a worker whose chat template refuses ``continue_final_message``.

Some Hugging Face chat templates alter the final message, and transformers then refuses to
continue it: vLLM 0.34 answers 400 "…the final message does not appear in the chat…". The
same worker can still continue the answer without that template path: it renders the
conversation *before* the answer (a plain chat with a generation prompt, which every
template takes) to token ids with ``POST /tokenize``, tokenizes the partial answer the same
way, and continues from the two joined with ``POST /v1/completions``. The worker then reads
the partial exactly, whitespace and all, so there is no seam to stitch.

``/tokenize`` is on every vLLM 0.34 server (``vllm/entrypoints/serve/tokenize/``, registered
with the serve routers); vLLM's ``/v1/chat/completions/render`` answers 403 unless the
worker runs with ``--enable-scale-out``, so it is not relied on. A worker without
``/tokenize`` (or one that refuses it) gets no fallback: the answer ends interrupted with
its text kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from django.conf import settings

from gateway.attempt import request_headers
from gateway.http import upstream_session
from gateway.types import WorkerSpec

# What a chat request's sampling means the same in /v1/completions; everything else (tools,
# response formats, chat-only switches) is left behind.
_SAMPLING = frozenset(
    {
        "model", "seed", "temperature", "top_p", "top_k", "min_p", "stop", "stop_token_ids",
        "presence_penalty", "frequency_penalty", "repetition_penalty", "ignore_eos",
        "include_stop_str_in_output", "skip_special_tokens", "spaces_between_special_tokens",
        "min_tokens", "stream", "stream_options", "max_tokens", "n", "logit_bias", "user",
    }
)  # fmt: skip
# The chat's own fields that shape the rendering, passed to /tokenize as they were sent.
_RENDERING = ("tools", "chat_template_kwargs", "documents")


async def completion_body(
    spec: WorkerSpec, *, chat: dict[str, Any], answer: str, deadline: float
) -> dict[str, Any] | None:
    """The /v1/completions body that continues ``answer`` after the conversation of the chat
    body ``chat`` (which carries the partial as its final message, as sent to the worker that
    refused it), or None when this worker cannot render it."""
    messages = list(chat.get("messages") or [])
    if not messages or not isinstance(messages[-1], dict):
        return None
    before = messages[:-1]  # the conversation before the answer began
    rendering = {key: chat[key] for key in _RENDERING if key in chat}
    model = chat.get("model")
    conversation = await _tokens(
        spec,
        {"model": model, "messages": before, "add_generation_prompt": True, **rendering},
        deadline,
    )
    if conversation is None:
        return None
    written = await _tokens(
        spec, {"model": model, "prompt": answer, "add_special_tokens": False}, deadline
    )
    if written is None:
        return None
    body = {key: value for key, value in chat.items() if key in _SAMPLING}
    if isinstance(chat.get("max_completion_tokens"), int):
        body["max_tokens"] = chat["max_completion_tokens"]
    body["prompt"] = conversation + written
    return body


async def _tokens(spec: WorkerSpec, body: dict[str, Any], deadline: float) -> list[int] | None:
    # Rendering is quick on a worker that is well; one that hangs must not hold the answer
    # until the request's deadline.
    loop = asyncio.get_running_loop()
    bound = min(deadline, loop.time() + settings.AIPORTAL_FIRST_TOKEN_TIMEOUT)
    try:
        async with asyncio.timeout_at(bound):
            response = await upstream_session().post(
                f"{spec.url}/tokenize", json=body, headers=request_headers(spec)
            )
            async with response:
                if response.status != 200:
                    return None
                data = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in tokens
    ):
        return None
    return tokens


def as_chat_chunk(frame: dict[str, Any]) -> dict[str, Any]:
    """A /v1/completions chunk as the chat chunk the client's stream is made of."""
    choices = []
    for choice in frame.get("choices") or ():
        choices.append(
            {
                "index": choice.get("index", 0),
                "delta": {"content": choice.get("text") or ""},
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
            }
        )
    return {**frame, "object": "chat.completion.chunk", "choices": choices}
