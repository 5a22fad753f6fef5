"""How long the emulator takes: a small, deterministic model of a GPU worker's timing.

A real vLLM worker has three costs that a router cares about, and this models each one:

- a fixed overhead before the first token (scheduling, the first decode step): ``ttft_ms``;
- prefill, proportional to the prompt tokens that were *not* found in the prefix cache:
  ``prefill_tokens_per_second``;
- decode, one token at a time at ``tokens_per_second`` for a lone request, slowing down as
  more requests share the batch: each extra running request adds ``concurrency_slowdown``.

Queueing is not modelled here: requests beyond ``max_concurrency`` really wait for a slot
(see ``engine.Scheduler``), so the queue's share of time to first token is real time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencyModel:
    ttft_ms: float = 40.0
    prefill_tokens_per_second: float = 20_000.0
    tokens_per_second: float = 60.0
    concurrency_slowdown: float = 0.05
    max_concurrency: int = 16
    # Relative jitter (0.1 = ±10 %) so benchmark curves are not perfectly flat. Off by default:
    # tests want repeatable timings.
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.ttft_ms < 0:
            raise ValueError("ttft_ms must be >= 0")
        if self.prefill_tokens_per_second <= 0 or self.tokens_per_second <= 0:
            raise ValueError("token rates must be > 0")
        if self.concurrency_slowdown < 0:
            raise ValueError("concurrency_slowdown must be >= 0")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def _load_factor(self, running: int) -> float:
        # Decode and prefill share the GPU with every other running sequence.
        return 1.0 + self.concurrency_slowdown * max(0, running - 1)

    def _jittered(self, seconds: float, rng: random.Random | None) -> float:
        if not self.jitter or rng is None:
            return seconds
        return seconds * (1.0 + rng.uniform(-self.jitter, self.jitter))

    def ttft_seconds(
        self, *, uncached_prompt_tokens: int, running: int, rng: random.Random | None = None
    ) -> float:
        """Time from being scheduled to the first token (queue time comes on top of this)."""
        prefill = max(0, uncached_prompt_tokens) / self.prefill_tokens_per_second
        seconds = self.ttft_ms / 1000.0 + prefill * self._load_factor(running)
        return self._jittered(seconds, rng)

    def inter_token_seconds(self, *, running: int, rng: random.Random | None = None) -> float:
        """Time between two tokens of one request while ``running`` requests share the batch."""
        seconds = self._load_factor(running) / self.tokens_per_second
        return self._jittered(seconds, rng)
