"""The behaviour model of a vLLM v1 worker that the emulator and bench/sim share: one KV
block pool for running and cached blocks, prefix-cache hits on prompt and answer blocks,
admission held back when blocks are short, preemption by recompute, one per-step token
budget, ``max_num_seqs``. Pure Python, no I/O, no Django: bench/ imports it directly.
See docs/emulator.md, "The behaviour model"."""

from .cost import StepCost
from .pool import BlockPool
from .scheduler import FINISHED, RUNNING, WAITING, EngineLimits, EngineModel, Sequence, Step

__all__ = [
    "FINISHED",
    "RUNNING",
    "WAITING",
    "BlockPool",
    "EngineLimits",
    "EngineModel",
    "Sequence",
    "Step",
    "StepCost",
]
