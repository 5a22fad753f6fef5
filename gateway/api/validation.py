"""What a ``/v1`` request may ask of a worker, checked before anything is sent upstream.

Every field is in exactly one of these groups:

- REFUSED (400): fields that would steer where or how the request is sent — another
  upstream, other credentials or headers, the worker's scheduling. The gateway alone
  decides that.
- IGNORED (dropped): OpenAI platform fields with no meaning here (``user``, ``store``,
  ``metadata``, …). Accepted so unchanged clients work, never forwarded: whatever they
  carry (URLs included) does not reach a worker.
- GATEWAY (consumed, never forwarded): ``prompt_cache_key``, the client's name for a shared
  prompt prefix, which routing uses as the affinity key (gateway/api/upstream.py). vLLM's
  chat and completion servers have no such field and would only log it as ignored.
- allowed for the endpoint (forwarded): OpenAI's parameters and vLLM's sampling extras;
  vLLM's removed ``guided_*`` fields are reviewed like the rest, then moved into
  ``structured_outputs`` (gateway/api/guided.py), never forwarded as they are.
- anything else (400 ``unknown_parameter``): a worker never receives a field nobody
  reviewed.

Caps come from settings: body size (413), message and prompt count, ``n``/``best_of``, tools
size (400); every other forwarded field is reviewed for its type, range and size in
gateway/api/fields.py (log-probabilities, stop sequences, token-id lists, logit biases,
grammars, template switches), and the whole body for well-formed text and finite numbers.
``max_tokens`` above AIPORTAL_MAX_TOKENS is clamped, not refused: clients and SDKs
routinely ask for more than they need, and a shorter answer ending with
``finish_reason: "length"`` is the same thing the model's context limit already produces.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from gateway.api.errors import ApiError, bad_request
from gateway.api.fields import (
    MAX_LOGPROBS,
    MAX_STOP,
    body_wellformed,
    fields_check,
    token_id_check,
)
from gateway.api.guided import guided_translate

REFUSED = frozenset({
    "api_base", "base_url", "api_key", "api_version", "api_type", "organization", "project",
    "headers", "extra_headers", "extra_body", "extra_query", "timeout", "url", "endpoint",
    "deployment_id", "custom_llm_provider", "proxy", "proxies",
    # vLLM fields that reach past sampling: queue-jumping, request ids, raw templates,
    # disaggregated-prefill transfer targets, arbitrary extension arguments.
    "priority", "request_id", "chat_template", "kv_transfer_params", "vllm_xargs",
    # Arguments for the worker's multimodal processor and its cache partitioning.
    "mm_processor_kwargs", "cache_salt",
})  # fmt: skip
IGNORED = frozenset({
    "user", "store", "metadata", "service_tier", "safety_identifier", "prompt_cache_retention",
})  # fmt: skip
CACHE_KEY = "prompt_cache_key"
GATEWAY = frozenset({CACHE_KEY})

_SAMPLING = frozenset({
    "model", "stream", "stream_options", "max_tokens", "n", "temperature", "top_p", "stop",
    "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "seed",
    # vLLM's sampling parameters.
    "top_k", "min_p", "repetition_penalty", "length_penalty", "min_tokens", "ignore_eos",
    "stop_token_ids", "include_stop_str_in_output", "skip_special_tokens",
    "spaces_between_special_tokens", "truncate_prompt_tokens", "prompt_logprobs",
    "allowed_token_ids", "bad_words", "use_beam_search", "return_tokens_as_token_ids",
    "response_format", "guided_json", "guided_regex", "guided_choice", "guided_grammar",
    "guided_whitespace_pattern", "structured_outputs", "add_special_tokens",
    # Reviewed (fields.py) but taken out of the body before it goes upstream (views.py).
    CACHE_KEY,
})  # fmt: skip
CHAT_FIELDS = _SAMPLING | {
    "messages", "max_completion_tokens", "top_logprobs", "tools", "tool_choice",
    "parallel_tool_calls", "functions", "function_call", "reasoning_effort", "echo",
    "add_generation_prompt", "continue_final_message", "chat_template_kwargs",
}  # fmt: skip
COMPLETION_FIELDS = _SAMPLING | {"prompt", "suffix", "echo", "best_of"}
# /v1/responses (vLLM 0.34's ResponsesRequest, vllm/entrypoints/openai/responses/protocol.py):
# OpenAI's fields a stateless gateway can honour, and vLLM's sampling extras.
RESPONSES_FIELDS = frozenset({
    "model", "input", "instructions", "stream", "max_output_tokens", "temperature", "top_p",
    "tools", "tool_choice", "parallel_tool_calls", "max_tool_calls", "text", "reasoning",
    "include", "truncation", "top_logprobs", "logit_bias", "seed", "stop", "presence_penalty",
    "frequency_penalty",
    # vLLM's extras.
    "top_k", "min_p", "repetition_penalty", "ignore_eos", "stop_token_ids",
    "include_stop_str_in_output", "skip_special_tokens", "spaces_between_special_tokens",
    "structured_outputs", "chat_template_kwargs", "include_reasoning",
    # Reviewed (fields.py) but taken out of the body before it goes upstream.
    CACHE_KEY,
})  # fmt: skip
EMBEDDING_FIELDS = frozenset({
    "model", "input", "encoding_format", "dimensions", "truncate_prompt_tokens",
    "add_special_tokens",
})  # fmt: skip

# Fixed caps (docs/gateway/api.md), in gateway/api/fields.py: MAX_LOGPROBS (OpenAI's own
# limit), MAX_STOP (OpenAI takes 4 and vLLM any number; 16 leaves room for clients written
# against vLLM), and the other fields' own.
__all__ = [
    "CACHE_KEY", "MAX_LOGPROBS", "MAX_STOP", "chat_body", "completion_body", "embedding_body",
    "responses_body",
]  # fmt: skip


def request_json(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, or an ApiError (413 too large, 400 not a JSON object)."""
    cap = settings.AIPORTAL_API_MAX_BODY_BYTES
    too_large = ApiError(
        413, f"The request body is larger than {cap} bytes.", code="request_too_large"
    )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > cap:
        raise too_large
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(raw) > cap:  # a chunked body declares no length
        raise too_large
    try:
        body = json.loads(raw)
    # RecursionError: arrays or objects nested past Python's recursion limit ("[[[[…").
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    # Text neither the database nor a worker takes is refused by body_wellformed (fields.py),
    # in the one walk over the body every endpoint makes.
    return body


def _screen(body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """Refuse steering fields and unknown ones; drop ignored ones. A field set to ``null``
    is absent (OpenAI's SDKs and clients send ``"stream": null`` and the like for "not
    set"): nothing to refuse, nothing to forward."""
    body = {name: value for name, value in body.items() if value is not None}
    for name in sorted(body):
        if name in REFUSED:
            raise bad_request(
                f"`{name}` is not accepted: the gateway chooses the worker and how to reach it.",
                param=name,
                code="unsupported_parameter",
            )
    # Embeddings have no use for a cache key: dropped there, as before.
    dropped = IGNORED | GATEWAY
    unknown = sorted(name for name in body if name not in allowed and name not in dropped)
    if unknown:
        raise bad_request(
            f"Unrecognized request argument supplied: {', '.join(unknown)}",
            param=unknown[0],
            code="unknown_parameter",
        )
    return {name: value for name, value in body.items() if name in allowed}


def _int(body: dict[str, Any], name: str, *, minimum: int, maximum: int | None = None) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"`{name}` must be an integer.", param=name)
    if value < minimum:
        raise bad_request(f"`{name}` must be at least {minimum}.", param=name)
    if maximum is not None and value > maximum:
        raise bad_request(
            f"`{name}` may be at most {maximum} here.", param=name, code="limit_exceeded"
        )


def _common(body: dict[str, Any], *, chat: bool) -> None:
    body_wellformed(body)
    fields_check(body, chat=chat)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("`model` is required and must be a string.", param="model")
    if len(model) > 200:
        raise bad_request("`model` is too long.", param="model")
    if not isinstance(body.get("stream", False), bool):
        raise bad_request("`stream` must be true or false.", param="stream")
    if body.get("stream_options") is not None:
        if not body.get("stream"):
            raise bad_request(
                "`stream_options` can only be set when `stream` is true.",
                param="stream_options",
            )
        if not isinstance(body["stream_options"], dict):
            raise bad_request("`stream_options` must be an object.", param="stream_options")
    _int(body, "n", minimum=1, maximum=settings.AIPORTAL_API_MAX_N)
    _int(body, "best_of", minimum=1, maximum=settings.AIPORTAL_API_MAX_N)
    # vLLM computes this many log-probabilities for every prompt token (-1: the whole
    # vocabulary); one long prompt with a large value holds a worker's memory.
    _int(body, "prompt_logprobs", minimum=0, maximum=MAX_LOGPROBS)


def _clamp_max_tokens(body: dict[str, Any]) -> None:
    """One ``max_tokens`` (what every vLLM version reads), at most AIPORTAL_MAX_TOKENS, and
    always set: a request without one would otherwise run to the model's context length."""
    _int(body, "max_tokens", minimum=1)
    _int(body, "max_completion_tokens", minimum=1)
    asked = body.pop("max_completion_tokens", None) or body.get("max_tokens")
    cap = settings.AIPORTAL_MAX_TOKENS
    body["max_tokens"] = min(asked, cap) if asked else cap


def _count_cap(items: list[Any], *, name: str, what: str) -> None:
    cap = settings.AIPORTAL_API_MAX_MESSAGES
    if len(items) > cap:
        raise bad_request(
            f"Too many {what}: {len(items)}, at most {cap} are accepted.",
            param=name,
            code="limit_exceeded",
        )


def chat_body(raw: dict[str, Any]) -> dict[str, Any]:
    body = _screen(raw, CHAT_FIELDS)
    _common(body, chat=True)
    guided_translate(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("`messages` must be a non-empty list.", param="messages")
    _count_cap(messages, name="messages", what="messages")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad_request("Each message must be an object with a `role`.", param="messages")
    tools_size = 0
    for name in ("tools", "functions"):
        if body.get(name) is None:
            continue
        if not isinstance(body[name], list):
            raise bad_request(f"`{name}` must be a list.", param=name)
        tools_size += len(json.dumps(body[name], separators=(",", ":")).encode())
    if tools_size > settings.AIPORTAL_API_MAX_TOOLS_BYTES:
        raise bad_request(
            f"The tool definitions take {tools_size} bytes; at most "
            f"{settings.AIPORTAL_API_MAX_TOOLS_BYTES} are accepted.",
            param="tools",
            code="limit_exceeded",
        )
    _int(body, "top_logprobs", minimum=0, maximum=MAX_LOGPROBS)
    _clamp_max_tokens(body)
    return body


def _is_token_ids(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def _inputs(value: Any, *, name: str) -> list[Any]:
    """A prompt or an embedding input as a list of items: a string, a list of strings, a
    list of token ids, or a list of lists of token ids."""
    if isinstance(value, str) or _is_token_ids(value):
        items = [value]
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(item, str) or _is_token_ids(item) for item in value)
    ):
        items = value
    else:
        items = None
    if items is not None:
        for item in items:
            for token in item if isinstance(item, list) else ():
                token_id_check(name, token)
        return items
    raise bad_request(
        f"`{name}` must be a string, a list of strings, a list of token ids, "
        "or a list of lists of token ids.",
        param=name,
    )


def completion_body(raw: dict[str, Any]) -> dict[str, Any]:
    body = _screen(raw, COMPLETION_FIELDS)
    _common(body, chat=False)
    guided_translate(body)
    _count_cap(_inputs(body.get("prompt"), name="prompt"), name="prompt", what="prompts")
    _int(body, "logprobs", minimum=0, maximum=MAX_LOGPROBS)
    _clamp_max_tokens(body)
    return body


def embedding_body(raw: dict[str, Any]) -> dict[str, Any]:
    body = _screen(raw, EMBEDDING_FIELDS)
    body_wellformed(body)
    fields_check(body, chat=False)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("`model` is required and must be a string.", param="model")
    _count_cap(_inputs(body.get("input"), name="input"), name="input", what="inputs")
    if body.get("encoding_format", "float") not in ("float", "base64"):
        raise bad_request("`encoding_format` must be float or base64.", param="encoding_format")
    _int(body, "dimensions", minimum=1)
    return body


# What needs state the gateway does not keep: vLLM's response store is off unless a worker
# runs with VLLM_ENABLE_RESPONSES_API_STORE=1 (then in that one worker's memory, never
# freed), and the next request may go to another worker anyway.
_STATEFUL = {
    "previous_response_id": "the gateway keeps no responses; send the conversation so far "
    "as `input`",
    "conversation": "the gateway keeps no conversations; send the conversation so far as `input`",
    "background": "answers stream or come back whole; nothing runs in the background",
    "prompt": "stored prompt templates are OpenAI's; send the text as `instructions`",
    "previous_input_messages": "send the conversation so far as `input`",
}
# Input items: messages, tool calls and their outputs, reasoning. ``item_reference`` points
# at a stored item, which nothing here keeps.
_INPUT_ITEMS = frozenset({
    "message", "function_call", "function_call_output", "reasoning", "custom_tool_call",
    "custom_tool_call_output",
})  # fmt: skip


def _responses_input(value: Any) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value:
        raise bad_request("`input` must be a string or a non-empty list of items.", param="input")
    _count_cap(value, name="input", what="input items")
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("Each `input` item must be an object.", param="input")
        kind = item.get("type", "message")
        if not isinstance(kind, str) or kind not in _INPUT_ITEMS:
            raise bad_request(
                f"`input` items of type {kind!r} are not accepted: the gateway keeps no "
                "stored items; send their content.",
                param="input",
                code="unsupported_parameter",
            )
        if kind == "message" and not isinstance(item.get("role"), str):
            raise bad_request("Each `input` message must have a `role`.", param="input")


def responses_body(raw: dict[str, Any]) -> dict[str, Any]:
    """A ``/v1/responses`` body, reviewed like a chat's. ``store`` is always sent as false:
    no worker keeps a response a later request could not find (docs/gateway/api.md)."""
    raw = {name: value for name, value in raw.items() if value is not None}
    if raw.get("background") is False:
        del raw["background"]  # the default, asked for explicitly: nothing to refuse
    for name in sorted(raw):
        if name in _STATEFUL:
            raise bad_request(
                f"`{name}` is not supported: {_STATEFUL[name]}.",
                param=name,
                code="unsupported_parameter",
            )
    # OpenAI's stream obfuscation padding; vLLM pads nothing and has no such field.
    raw.pop("stream_options", None)
    body = _screen(raw, RESPONSES_FIELDS)
    _common(body, chat=True)
    _responses_input(body.get("input"))
    if body.get("tools") is not None:
        if not isinstance(body["tools"], list):
            raise bad_request("`tools` must be a list.", param="tools")
        size = len(json.dumps(body["tools"], separators=(",", ":")).encode())
        if size > settings.AIPORTAL_API_MAX_TOOLS_BYTES:
            raise bad_request(
                f"The tool definitions take {size} bytes; at most "
                f"{settings.AIPORTAL_API_MAX_TOOLS_BYTES} are accepted.",
                param="tools",
                code="limit_exceeded",
            )
    _int(body, "top_logprobs", minimum=0, maximum=MAX_LOGPROBS)
    _int(body, "max_output_tokens", minimum=1)
    asked = body.get("max_output_tokens")
    cap = settings.AIPORTAL_MAX_TOKENS
    body["max_output_tokens"] = min(asked, cap) if asked else cap
    body["store"] = False
    return body
