"""A reasoning model, as vLLM 0.34 serves one with ``--reasoning-parser``.

The model thinks before it answers; vLLM's reasoning parser splits what it generates into
``reasoning`` and ``content`` (vllm/reasoning/, e.g. qwen3_engine_reasoning_parser.py):

- streaming, each chat chunk's delta carries ``{"reasoning": …}`` while the model thinks,
  then ``{"content": …}``; a chunk that spans the end of the thinking carries both
  (``DeltaMessage`` in vllm/entrypoints/generate/base/protocol.py, serialised with unset
  fields left out). The token that ends the thinking has no text: it makes no chunk.
- not streaming, the message has ``reasoning`` next to ``content`` (``ChatMessage`` in
  vllm/entrypoints/openai/chat_completion/protocol.py). 0.34 has no ``reasoning_content``
  in its answers; a request's assistant message may still carry one, which vLLM renames
  to ``reasoning`` before rendering.
- ``usage.completion_tokens_details.reasoning_tokens`` counts the thinking
  (chat_completion/serving.py), on every usage a reasoning server writes.
- ``include_reasoning: false`` leaves the reasoning out of the answer (it is still
  generated and counted).

The thinking is a function of the same things as the answer (the conversation before the
answer began and the seed), so a request asked again on another worker thinks the same.
A continued final assistant message (``continue_final_message``) is past its thinking: the
model writes the rest of the answer only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .decode import Step, decode
from .text import answer_seed, excerpt_of
from .tokens import tokenize

# The token that closes the thinking (``</think>`` for most parsers): generated and counted,
# never shown.
END_OF_THINKING = ""

_OPENINGS = (
    "The user wrote: “{excerpt}”.",
    "Reading the message: “{excerpt}”.",
    "The question is “{excerpt}”.",
)
_STEPS = (
    "I am the emulator, so there is no model behind this and no real reasoning to do.",
    "The honest answer is to say what I am and how the request travelled.",
    "A short list would help: how the gateway routes, what the prompt cost, what a seed does.",
    "I should keep the demo answer readable and mention that a real worker answers better.",
    "Nothing in the message needs a tool, so I can answer directly.",
    "Let me check the length: the answer has a target size set on the worker.",
)


def compose_reasoning(*, prompt: str, question: str, seed: int | None, target_tokens: int) -> str:
    """The thinking for ``prompt``, about ``target_tokens`` long (whole sentences)."""
    rng = random.Random(answer_seed(seed=seed, prompt="think\x00" + prompt))
    excerpt = excerpt_of(question) or "(an empty message)"
    sentences = [rng.choice(_OPENINGS).format(excerpt=excerpt)]
    pool = rng.sample(_STEPS, len(_STEPS))
    used = len(tokenize(sentences[0]))
    for sentence in pool:
        cost = len(tokenize(" " + sentence))
        if used + cost > target_tokens:
            continue
        sentences.append(sentence)
        used += cost
    text = " ".join(sentences)
    return "".join(tokenize(text)[:target_tokens])


def phased_decode(
    thought: list[str],
    pieces: list[str],
    *,
    max_tokens: int,
    stop: list[str] | None = None,
    include_stop_str_in_output: bool = False,
) -> Iterator[tuple[Step, bool]]:
    """``decode`` after a thinking phase: each step with whether it is reasoning.
    ``thought`` ends with END_OF_THINKING; max_tokens counts the thinking too, and stop
    strings apply to the answer only."""
    for index, piece in enumerate(thought):
        if index + 1 >= max_tokens:
            yield Step(piece, "length"), True
            return
        yield Step(piece), True
    for step in decode(
        pieces,
        max_tokens=max_tokens - len(thought),
        stop=stop,
        include_stop_str_in_output=include_stop_str_in_output,
    ):
        yield step, False


def with_reasoning_tokens(totals: dict[str, int], reasoning_tokens: int) -> dict[str, object]:
    """A usage as a reasoning server writes it."""
    return {**totals, "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}
