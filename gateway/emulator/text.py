"""The emulator's answers: a deterministic demo text, not lorem ipsum.

The answer says where it comes from, quotes a bounded excerpt of the question, and carries a
little markdown (a list, sometimes a code block) so the chat page's rendering is exercised.
It depends only on the seed, the prompt it answers and the target length, never on the
worker (port, region, load): a stream that dies on one worker is continued on another from
the partial text, and both must agree on the whole answer.
"""

from __future__ import annotations

import hashlib
import random

from .tokens import tokenize

EXCERPT_CHARS = 160

_INTROS = (
    "This reply comes from the **aiportal vLLM emulator**, a stand-in for a real model "
    "server, so no language model has read your message.",
    "Hello! You are talking to the **aiportal vLLM emulator**. It speaks vLLM's "
    "OpenAI-compatible protocol but runs no model, so this answer comes from a template.",
    "I am the **aiportal vLLM emulator**, not a real model: every request gets a "
    "deterministic demo answer like this one.",
)

_ECHO_LEADS = ("You asked:", "Your message was:", "Here is what you sent:")

_LIST_LEADS = (
    "What happens to a request like yours:",
    "A few things worth knowing about this answer:",
    "How this demo worker treats your message:",
)

_LIST_ITEMS = (
    "the gateway picks a worker and streams the tokens back as they are produced",
    "your prompt counts as about {prompt_tokens} tokens, at roughly four characters each",
    "a conversation that repeats its earlier turns hits the prefix cache, so the first "
    "token comes sooner",
    "the text is chosen by a seed, so the same seed and prompt give the same answer",
    "latency follows a simple model: a base delay, prefill time, and a decode speed that "
    "falls as more requests share the worker",
    "faults such as a dropped stream, a stall or an error can be injected for tests",
    "usage numbers are counted for this answer just as a real server counts them",
)

_CODE_BLOCKS = (
    "```python\n# The same seed and prompt always give the same answer.\n"
    "answer = emulator.complete(prompt, seed={seed})\nprint(answer.usage)\n```",
    "```bash\n# Ask any OpenAI-compatible client for a stream:\n"
    "curl -N $WORKER/v1/chat/completions -d @request.json\n```",
    '```json\n{{"model": "{model_hint}", "seed": {seed}, "stream": true}}\n```',
)

_FILLERS = (
    "The emulator exists so that tests, benchmarks and a fresh checkout can run without a GPU.",
    "Each token is sent as soon as it is ready, in the same server-sent events a vLLM "
    "server writes.",
    "If you stop the answer, the worker notices the closed connection and aborts the request.",
    "When a worker fails mid-answer, the gateway continues the same answer on another one.",
    "Metrics such as running and waiting requests are exported under vLLM's own names.",
    "Routing keeps a conversation on one worker so that its prefix cache stays warm.",
    "A longer prompt takes longer to prefill, and a busy worker decodes more slowly.",
    "Nothing here was written by a model; the sentences are picked and ordered by the seed.",
    "The answer's length is a setting of the worker, so benchmarks can ask for long ones.",
    "Requests beyond the worker's concurrency limit wait in a queue, as they would on a GPU.",
    "Real answers need a real vLLM server listed in the gateway's worker pool.",
    "Your question deserves a real model; this one only shows that the plumbing works.",
)

_CLOSINGS = (
    "To get real answers, point `AIPORTAL_WORKERS` at a vLLM server.",
    "Connect a real vLLM worker to get an actual answer to your question.",
    "That is all the emulator can say; a real model would do better.",
)


def answer_seed(*, seed: int | None, prompt: str) -> int:
    """The RNG seed for an answer: the request's seed mixed with the prompt, or the prompt
    alone when no seed is given (so a prompt always gets the same answer)."""
    material = f"{'' if seed is None else seed}\x00{prompt}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def excerpt_of(question: str) -> str:
    """A bounded, single-line excerpt of the question for the blockquote."""
    flat = " ".join(question.split())
    if len(flat) <= EXCERPT_CHARS:
        return flat
    return flat[: EXCERPT_CHARS - 1].rstrip() + "…"


def compose_answer(
    *,
    prompt: str,
    question: str,
    seed: int | None,
    target_tokens: int,
    prompt_tokens: int,
    model_hint: str = "aiportal-emulator",
) -> str:
    """The whole answer for ``prompt``; ``question`` is what it quotes back.

    Paragraphs are added while they fit in ``target_tokens``; the answer always has an intro
    and a closing, and is cut to exactly ``target_tokens`` only when even those do not fit.
    """
    rng = random.Random(answer_seed(seed=seed, prompt=prompt))
    number = seed if seed is not None else rng.randrange(1000, 10_000)
    excerpt = excerpt_of(question)
    echo = f"{rng.choice(_ECHO_LEADS)}\n\n> {excerpt}" if excerpt else "Your message was empty."
    head = f"{rng.choice(_INTROS)} {echo}"
    closing = rng.choice(_CLOSINGS)

    items = rng.sample(_LIST_ITEMS, 3)
    bullet_list = (
        rng.choice(_LIST_LEADS)
        + "\n\n"
        + "\n".join("- " + item.format(prompt_tokens=prompt_tokens) for item in items)
    )
    optional = [bullet_list]
    if rng.random() < 0.6:
        code = rng.choice(_CODE_BLOCKS).format(seed=number, model_hint=model_hint)
        optional.append(code)

    # Token counts add up paragraph by paragraph (each ends on a non-space character, so no
    # token spans a boundary), which keeps composing a long answer linear in its length.
    def cost(text: str) -> int:
        return len(tokenize(text))

    used = cost(head)
    closing_cost = cost("\n\n" + closing)
    if used + closing_cost > target_tokens:
        return "".join(tokenize(head + "\n\n" + closing)[:target_tokens])
    paragraphs = [head]
    for paragraph in optional:
        extra = cost("\n\n" + paragraph)
        if used + extra + closing_cost <= target_tokens:
            paragraphs.append(paragraph)
            used += extra

    # Fill with prose, two or three sentences per paragraph, reshuffling the pool each time
    # it runs out so that long answers do not repeat in a fixed order.
    pool: list[str] = []
    sentences: list[str] = []
    while True:
        if not pool:
            pool = list(_FILLERS)
            rng.shuffle(pool)
        sentence = pool.pop()
        extra = cost((" " if sentences else "\n\n") + sentence)
        if used + extra + closing_cost > target_tokens:
            break
        sentences.append(sentence)
        used += extra
        if len(sentences) >= rng.choice((2, 3)):
            paragraphs.append(" ".join(sentences))
            sentences = []
    if sentences:
        paragraphs.append(" ".join(sentences))
    paragraphs.append(closing)
    return "\n\n".join(paragraphs)
