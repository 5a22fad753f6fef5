"""The simulated traffic: multi-turn chats over a handful of shared system prompts.

New conversations arrive as a Poisson process. Each picks one of a few system prompts (the
same ones are shared by many users, as a deployment's assistants are), then runs several
turns: the prompt of turn k is the system prompt, every earlier message and answer, and the
new message, so it grows turn after turn and all but its last message is a repeat of the
previous turn's prompt and answer, which is what prefix caching and conversation affinity are
about. Users think between turns. Lengths are in tokens.

A trace is fixed by its seed, so every policy is measured against the same conversations;
when a turn is asked depends on when the previous answer ended, as with real users.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

TEMPLATE_TOKENS = 8  # chat-template tokens around each message


@dataclass(frozen=True)
class WorkloadConfig:
    rate: float = 3.0  # new conversations per second
    duration: float = 240.0  # seconds during which conversations start
    system_prompts: tuple[int, ...] = (300, 600, 1000, 1500, 2500)
    system_weights: tuple[float, ...] = (0.3, 0.25, 0.2, 0.15, 0.1)
    turns: tuple[int, int] = (3, 12)  # uniform, inclusive
    message_median: float = 60.0
    paste_probability: float = 0.1  # a pasted document instead of a short message
    paste_median: float = 800.0
    answer_median: float = 220.0
    answer_max: int = 1200
    think_mean: float = 8.0  # seconds, exponential, on top of think_min
    think_min: float = 2.0
    max_context: int = 12_000  # a conversation ends before its prompt + answer exceed this


@dataclass(slots=True)
class Turn:
    message_tokens: int
    answer_tokens: int
    think: float  # seconds between the previous answer and this turn


@dataclass(slots=True)
class Conversation:
    cid: int
    start: float
    system: int
    system_tokens: int
    turns: list[Turn]


@dataclass(slots=True)
class Request:
    rid: int
    conversation: int
    turn: int
    system: int
    system_tokens: int
    prompt_tokens: int
    output_tokens: int
    arrival: float
    worker: int = -1
    admitted: float = math.nan
    first_token: float = math.nan
    finished: float = math.nan
    hit_tokens: int = 0  # prefix-cache hit at its (first) admission


def conversations_generate(config: WorkloadConfig, *, seed: int) -> list[Conversation]:
    rng = random.Random(seed)
    conversations: list[Conversation] = []
    clock = rng.expovariate(config.rate)
    while clock < config.duration:
        system = rng.choices(range(len(config.system_prompts)), config.system_weights)[0]
        system_tokens = config.system_prompts[system]
        context = system_tokens
        turns: list[Turn] = []
        for _ in range(rng.randint(*config.turns)):
            if rng.random() < config.paste_probability:
                message = int(rng.lognormvariate(math.log(config.paste_median), 0.5))
            else:
                message = int(rng.lognormvariate(math.log(config.message_median), 0.8))
            message = max(1, message) + TEMPLATE_TOKENS
            answer = min(
                config.answer_max,
                max(1, int(rng.lognormvariate(math.log(config.answer_median), 0.6))),
            )
            if context + message + answer > config.max_context:
                break
            think = config.think_min + rng.expovariate(1 / config.think_mean)
            turns.append(Turn(message_tokens=message, answer_tokens=answer, think=think))
            context += message + answer + TEMPLATE_TOKENS
        if turns:
            conversations.append(
                Conversation(
                    cid=len(conversations),
                    start=clock,
                    system=system,
                    system_tokens=system_tokens,
                    turns=turns,
                )
            )
        clock += rng.expovariate(config.rate)
    return conversations


def prompt_tokens(conversation: Conversation, turn: int) -> int:
    """Tokens in turn ``turn``'s prompt: system, all earlier messages and answers, the new
    message (the generation prompt is counted in the message's template tokens)."""
    tokens = conversation.system_tokens
    for earlier in conversation.turns[:turn]:
        tokens += earlier.message_tokens + earlier.answer_tokens + TEMPLATE_TOKENS
    return tokens + conversation.turns[turn].message_tokens
