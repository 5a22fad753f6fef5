"""Non-streaming answers as OpenAI's response schemas describe them.

vLLM 0.34 writes some optional fields as explicit ``null`` where the OpenAI spec's schema has
an array, an object or a string and no ``nullable`` (``ChatMessage.function_call``,
``ChatCompletionResponse.system_fingerprint``, ``UsageInfo.completion_tokens_details``;
older versions also ``annotations`` and ``prompt_tokens_details``:
vllm/entrypoints/openai/chat_completion/protocol.py, vllm/entrypoints/serve/engine/
protocol.py). Clients that validate against the spec (typed SDKs, code generated from the
OpenAPI file) refuse such a reply. A ``null`` there says nothing an absent field does not,
so it is left out.
"""

from __future__ import annotations

from typing import Any

_TOP = ("system_fingerprint",)
_MESSAGE = ("annotations", "function_call")
_USAGE = ("prompt_tokens_details", "completion_tokens_details")


def _drop_nulls(item: Any, names: tuple[str, ...]) -> None:
    if isinstance(item, dict):
        for name in names:
            if name in item and item[name] is None:
                del item[name]


def reply_conformed(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a chat or text completion) without the spec-breaking nulls, in place."""
    _drop_nulls(body, _TOP)
    _drop_nulls(body.get("usage"), _USAGE)
    for choice in body.get("choices") or ():
        if isinstance(choice, dict):
            _drop_nulls(choice.get("message"), _MESSAGE)
    return body
