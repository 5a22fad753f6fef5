"""``usage.prompt_tokens_details``: how much of the prompt the prefix cache served.

vLLM 0.34 fills it only when started with ``--enable-prompt-tokens-details`` (a server flag;
no request field turns it on), and then on every answer, with ``cached_tokens`` 0 when
nothing was cached. Its shape depends on the endpoint and on how the object is serialised:

- chat (vllm/entrypoints/openai/chat_completion/serving.py, ``_make_prompt_tokens_details``):
  ``cached_tokens`` and ``created_cache_tokens`` (the prompt tokens this request wrote to the
  cache) and ``multimodal_tokens`` (null for text). The non-streaming answer and the
  continuous-usage chunks (the role chunk included: the split is known from the first output)
  keep the null; the final usage chunk is serialised without nulls, so it has two keys;
- completions (vllm/entrypoints/openai/completion/serving.py): ``cached_tokens`` alone is
  set, so the non-streaming answer shows the other two as null, the final usage chunk has
  ``cached_tokens`` alone and the continuous-usage chunks have no details at all.

``PromptTokenUsageInfo`` is in vllm/entrypoints/serve/engine/protocol.py. The counts come
from the emulator's prefix cache (the behaviour model's, model/), looked up when the
request is admitted.
"""

from __future__ import annotations

from typing import Any, Literal

from .config import EmulatorConfig
from .engine import Ticket

# "response": a non-streaming answer; "chunk": a streamed chunk with continuous usage;
# "usage_chunk": the final chunk of a stream with include_usage.
Frame = Literal["response", "chunk", "usage_chunk"]


def created_cache_tokens(config: EmulatorConfig, ticket: Ticket) -> int:
    """Prompt tokens this request added to the cache: its full blocks, less those it found
    there (vllm/v1/metrics/stats.py, ``PrefillStats.finalize``); 0 without caching."""
    if not config.prefix_caching:
        return 0
    full = len(ticket.prompt_tokens) // config.block_size * config.block_size
    return max(0, full - ticket.cached_tokens)


def prompt_tokens_details(
    config: EmulatorConfig, *, kind: str, ticket: Ticket, frame: Frame
) -> dict[str, Any] | None:
    """The details for one usage object, or None when vLLM would send none."""
    if not config.enable_prompt_tokens_details:
        return None
    cached = ticket.cached_tokens
    if kind == "chat":
        created = created_cache_tokens(config, ticket)
        if frame == "usage_chunk":
            return {"cached_tokens": cached, "created_cache_tokens": created}
        return {"cached_tokens": cached, "created_cache_tokens": created, "multimodal_tokens": None}
    if frame == "chunk":
        return None
    if frame == "usage_chunk":
        return {"cached_tokens": cached}
    return {"cached_tokens": cached, "created_cache_tokens": None, "multimodal_tokens": None}


def with_details(
    totals: dict[str, Any] | None,
    config: EmulatorConfig,
    *,
    kind: str,
    ticket: Ticket,
    frame: Frame,
) -> dict[str, Any] | None:
    """``totals`` (a usage object, or None for a frame without usage) with the details vLLM
    puts after the token counts, when it puts any."""
    if totals is None:
        return None
    details = prompt_tokens_details(config, kind=kind, ticket=ticket, frame=frame)
    return totals if details is None else {**totals, "prompt_tokens_details": details}
