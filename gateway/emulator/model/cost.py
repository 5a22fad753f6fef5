"""What one engine step costs on a GPU, for the simulator (the emulator keeps its own
latency model). A step reads the weights once, then pays per decoding request and per
prefill token; ``speed`` divides the whole for faster or slower GPUs."""

from __future__ import annotations

from dataclasses import dataclass

from .scheduler import Step


@dataclass(frozen=True)
class StepCost:
    base: float = 0.012  # seconds per step: weights read, scheduling
    per_sequence: float = 0.0003  # per decoding request in the step
    per_prefill_token: float = 0.00007  # ~14k prefill tokens/s on a medium worker

    def seconds(self, step: Step, *, speed: float = 1.0) -> float:
        work = self.per_sequence * step.decodes + self.per_prefill_token * step.prefill_tokens
        return (self.base + work) / speed
