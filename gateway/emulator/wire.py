"""vLLM 0.34's response shapes, field by field (``--vllm-version 0.34``, the default).

Read from vLLM 0.34.0's source, never copied:

- the models: ``vllm/entrypoints/openai/chat_completion/protocol.py`` (ChatMessage,
  ChatCompletionResponse, ChatCompletionStreamResponse and their choices),
  ``vllm/entrypoints/openai/completion/protocol.py``, ``UsageInfo`` in
  ``vllm/entrypoints/serve/engine/protocol.py`` and ``DeltaMessage`` in
  ``vllm/entrypoints/generate/base/protocol.py``;
- how they are serialised: a streamed chat chunk with ``model_dump_json(exclude_unset=True,
  exclude_none=not chunk.choices)`` (``chat_completion/serving.py``), a completion chunk with
  ``exclude_unset=True`` and its usage chunk with ``exclude_none=True``
  (``completion/serving.py``), a whole answer with a plain ``model_dump()`` (the routers'
  ``JSONResponse``). So a field the server passes explicitly, even as None, is an explicit
  null in a chunk, and one it leaves unset is absent; ``UsageInfo.prompt_tokens_details`` is
  dropped when None (``exclude_if``), ``ChatMessage.annotations`` too, and an empty
  ``tool_calls`` list is popped from messages and deltas.

The emulator's own values (ids, text, counts) go in; only the shapes are vLLM's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .protocol import GenerationRequest


def _usage(totals: dict[str, Any], *, details: bool) -> dict[str, Any]:
    """``UsageInfo`` in field order; ``details``: completion_tokens_details was passed (as
    None: this server runs no reasoning parser), so it shows as an explicit null."""
    body: dict[str, Any] = {
        "prompt_tokens": totals["prompt_tokens"],
        "total_tokens": totals["total_tokens"],
        "completion_tokens": totals["completion_tokens"],
    }
    if totals.get("prompt_tokens_details") is not None:
        body["prompt_tokens_details"] = totals["prompt_tokens_details"]
    if details:
        # A reasoning server's count of thinking tokens (gateway/emulator/reasoning.py).
        body["completion_tokens_details"] = totals.get("completion_tokens_details")
    return body


def _head(request: GenerationRequest) -> dict[str, Any]:
    chat = request.kind == "chat"
    return {
        "id": request.request_id,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": request.created,
        "model": request.model,
    }


def chat_chunk(
    request: GenerationRequest,
    *,
    text: str | None,
    role: bool,
    echo: bool,
    finish_reason: str | None,
    stop_reason: str | None,
    finishing: bool,
    usage_now: dict[str, Any] | None,
    empty_end: bool = False,
    delta: dict[str, Any] | None = None,
    reasoning: str = "",
) -> dict[str, Any]:
    """One streamed chat chunk: the role chunk and the echo chunk (both built without
    ``token_ids`` or ``kv_transfer_params``), a content chunk (``delta`` given: a tool-call
    delta instead of text), or the finishing one."""
    choice: dict[str, Any] = {"index": 0}
    if delta is not None and not role:
        choice["delta"] = delta
    elif role:
        choice["delta"] = {"role": "assistant", "content": ""}
    elif empty_end:
        # Finished without any output (an abort before the first token): DeltaMessage().
        choice["delta"] = {}
    elif reasoning:
        # A reasoning parser's DeltaMessage: the thinking, with content only if this chunk
        # also carries answer text (the one where the thinking closes).
        choice["delta"] = {"reasoning": reasoning, **({"content": text} if text else {})}
    else:
        choice["delta"] = {"content": text or ""}
    choice["logprobs"] = None
    choice["finish_reason"] = finish_reason
    body = _head(request)
    body["choices"] = [choice]
    if role:
        if usage_now is not None:
            body["usage"] = _usage(usage_now, details=True)
        # The first chunk passes both explicitly: nulls unless return_token_ids /
        # return_prompt_text are asked for.
        body["prompt_token_ids"] = None
        body["prompt_text"] = None
        return body
    if echo:
        if usage_now is not None:
            body["usage"] = _usage(usage_now, details=True)
        return body
    if finishing:
        choice["stop_reason"] = stop_reason
    choice["token_ids"] = None
    if finishing:
        choice["weight_versions"] = None
    if usage_now is not None:
        body["usage"] = _usage(usage_now, details=True)
    if finishing and not request.include_usage and request.system_fingerprint:
        # On the terminal chunk only, unless a usage chunk follows and carries it.
        body["system_fingerprint"] = request.system_fingerprint
    body["kv_transfer_params"] = None
    return body


def completion_chunk(
    request: GenerationRequest,
    *,
    text: str | None,
    finish_reason: str | None,
    stop_reason: str | None,
    usage_now: dict[str, Any] | None,
) -> dict[str, Any]:
    choice = {
        "index": 0,
        "text": text or "",
        "logprobs": None,
        "finish_reason": finish_reason,
        "stop_reason": stop_reason,
        "prompt_token_ids": None,
        "token_ids": None,
        "weight_versions": None,
    }
    body = _head(request)
    body["choices"] = [choice]
    if usage_now is not None:
        body["usage"] = _usage(usage_now, details=False)
    if finish_reason is not None and not request.include_usage and request.system_fingerprint:
        body["system_fingerprint"] = request.system_fingerprint
    body["kv_transfer_params"] = None
    return body


def usage_chunk(request: GenerationRequest, totals: dict[str, Any]) -> dict[str, Any]:
    """The trailing usage chunk: no choices, so every None is left out."""
    body = _head(request)
    body["choices"] = []
    body["usage"] = _usage(totals, details=False)
    if request.system_fingerprint:
        body["system_fingerprint"] = request.system_fingerprint
    return body


def full_response(
    request: GenerationRequest,
    *,
    text: str,
    finish_reason: str,
    stop_reason: str | None,
    totals: dict[str, Any],
    tool_calls: list[dict[str, Any]] | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    """A whole answer, every field present (``model_dump()``), but ``tool_calls`` when there
    are none (vLLM's ChatMessage leaves an empty list out)."""
    chat = request.kind == "chat"
    choice: dict[str, Any] = {"index": 0}
    if chat:
        choice["message"] = {
            "role": "assistant",
            "content": text,
            "refusal": None,
            "audio": None,
            "function_call": None,
            **({"tool_calls": tool_calls} if tool_calls else {}),
            "reasoning": reasoning,
        }
    else:
        choice["text"] = text
    choice.update(logprobs=None, finish_reason=finish_reason, stop_reason=stop_reason)
    choice["token_ids"] = None
    if not chat:
        choice["prompt_logprobs"] = None
        choice["prompt_token_ids"] = None
    choice["routed_experts"] = None
    choice["weight_versions"] = None
    body: dict[str, Any] = {
        "id": request.request_id,
        "object": "chat.completion" if chat else "text_completion",
        "created": request.created,
        "model": request.model,
        "choices": [choice],
        "service_tier": None,
        "system_fingerprint": request.system_fingerprint,
        "usage": _usage(totals, details=True),
    }
    if chat:
        body.update(prompt_logprobs=None, prompt_token_ids=None, prompt_text=None)
    body.update(kv_transfer_params=None, ec_transfer_params=None, metrics=None)
    return body


def embedding_usage(prompt_tokens: int) -> dict[str, Any]:
    """``UsageInfo(prompt_tokens=n, total_tokens=n)`` dumped whole."""
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens,
        "completion_tokens": 0,
        "completion_tokens_details": None,
    }
