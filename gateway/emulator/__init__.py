"""An emulated vLLM worker: vLLM's OpenAI-compatible wire format, metrics and failure modes,
with a latency model and no GPU. See docs/emulator.md."""

from .config import DEFAULT_MODEL, EmulatorConfig
from .faults import FaultSpec
from .latency import LatencyModel
from .server import create_app, running_emulator

__all__ = [
    "DEFAULT_MODEL",
    "EmulatorConfig",
    "FaultSpec",
    "LatencyModel",
    "create_app",
    "running_emulator",
]
