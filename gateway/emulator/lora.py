"""LoRA adapters served by name (``--lora-modules name=path``) and their gauge.

vLLM 0.34 with adapters (a ``lora_config``) exports ``vllm:lora_requests_info``
(vllm/v1/metrics/loggers.py): one gauge whose labels carry the state, ``max_lora`` and the
adapters with waiting and running requests (comma-joined names), set to the time of the
latest stats. The emulator counts an adapter's requests from arrival to end, as vLLM's
``LoRARequestStates`` (vllm/v1/metrics/stats.py) does.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class LoraStates:
    def __init__(self, max_loras: int) -> None:
        self.max_loras = max_loras
        self.waiting: Counter[str] = Counter()
        self.running: Counter[str] = Counter()

    def arrived(self, name: str) -> None:
        self.waiting[name] += 1

    def started(self, name: str) -> None:
        self._drop(self.waiting, name)
        self.running[name] += 1

    def finished(self, name: str, *, started: bool) -> None:
        self._drop(self.running if started else self.waiting, name)

    @staticmethod
    def _drop(counts: Counter[str], name: str) -> None:
        counts[name] -= 1
        if counts[name] <= 0:
            del counts[name]

    def collector(self) -> Collector:
        return _LoraCollector(self)


class _LoraCollector(Collector):
    def __init__(self, states: LoraStates) -> None:
        self._states = states

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "vllm:lora_requests_info",
            "Running stats on lora requests.",
            labels=["max_lora", "waiting_lora_adapters", "running_lora_adapters"],
        )
        states = self._states
        family.add_metric(
            [str(states.max_loras), ",".join(states.waiting), ",".join(states.running)],
            time.time(),
        )
        yield family
