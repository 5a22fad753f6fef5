"""The /metrics endpoint: vLLM's Prometheus names, types, labels and buckets.

Each app has its own ``CollectorRegistry`` (never the global one): several emulators run in
one test process and must not share counters. Labels are vLLM v1's: ``model_name`` (the
first served name) and ``engine`` (the engine index: "0", or one per engine for the gauges
with ``--data-parallel-size``). Gauges are read from
the engine when scraped, as vLLM reads them from its scheduler stats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

FINISHED_REASONS = ("stop", "length", "abort")
# vLLM 0.34's FinishReason (vllm/v1/engine/__init__.py): every one labelled up front.
FINISHED_REASONS_034 = ("stop", "length", "abort", "error", "repetition")
# vllm:num_requests_waiting_by_reason's reasons (vllm/v1/metrics/loggers.py): the emulator's
# waiting requests all wait for capacity; nothing defers them.
WAITING_REASONS = ("capacity", "deferred")
# vllm:admission_rejections' reasons: the emulator has the first limit only.
ADMISSION_REASONS = ("max_num_queued_reqs", "max_num_queued_tokens")

# vLLM v1's buckets (vllm/v1/metrics/loggers.py), so dashboards' quantiles behave alike.
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
    50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
TPOT_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip


@dataclass(frozen=True)
class GaugeValues:
    running: int
    waiting: int
    kv_cache_usage: float


def engine_split(values: GaugeValues, engines: int) -> list[GaugeValues]:
    """The worker's gauges as ``engines`` data-parallel engines would report them, one entry
    each (vLLM labels every gauge with its ``engine``): the requests dealt out in turn, and
    each engine's KV use its running requests' share of the whole, so that summing the
    counts and averaging the KV use gives the worker's values back."""
    if engines <= 1:
        return [values]
    split = []
    for index in range(engines):
        running = values.running // engines + (index < values.running % engines)
        waiting = values.waiting // engines + (index < values.waiting % engines)
        share = running / values.running if values.running else 1 / engines
        split.append(
            GaugeValues(running, waiting, min(1.0, values.kv_cache_usage * engines * share))
        )
    return split


class _GaugeCollector(Collector):
    """Reads the live gauges at scrape time instead of mirroring every change."""

    def __init__(
        self,
        read: Callable[[], GaugeValues],
        labels: dict[str, str],
        old_names: bool,
        engines: int = 1,
        current: bool = False,
    ) -> None:
        self._read = read
        self._labels = labels
        self._engines = engines
        self._current = current
        self._kv_name = "vllm:gpu_cache_usage_perc" if old_names else "vllm:kv_cache_usage_perc"

    def collect(self) -> Iterable[Metric]:
        split = engine_split(self._read(), self._engines)
        names = list(self._labels)
        for name, doc, read in (
            (
                "vllm:num_requests_running",
                "Number of requests in model execution batches.",
                lambda v: v.running,
            ),
            ("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
             lambda v: v.waiting),
            (self._kv_name, "KV-cache usage. 1 means 100 percent usage.",
             lambda v: v.kv_cache_usage),
        ):  # fmt: skip
            family = GaugeMetricFamily(name, doc, labels=names)
            for index, values in enumerate(split):
                labels = {**self._labels, "engine": str(index)}
                family.add_metric(list(labels.values()), float(read(values)))
            yield family
        if self._current:
            family = GaugeMetricFamily(
                "vllm:num_requests_waiting_by_reason",
                "Number of waiting requests by reason.",
                labels=[*names, "reason"],
            )
            for index, values in enumerate(split):
                labels = {**self._labels, "engine": str(index)}
                for reason in WAITING_REASONS:
                    count = values.waiting if reason == "capacity" else 0
                    family.add_metric([*labels.values(), reason], float(count))
            yield family


class EmulatorMetrics:
    def __init__(
        self,
        *,
        model_name: str,
        old_names: bool,
        read_gauges: Callable[[], GaugeValues],
        engines: int = 1,
        current: bool = False,
    ) -> None:
        """``current``: vLLM 0.34's families (vllm/v1/metrics/loggers.py), else 0.10's."""
        self.registry = CollectorRegistry()
        labels = {"model_name": model_name, "engine": "0"}
        names = list(labels)
        # The gauges per engine; the counters and histograms stay on engine "0".
        self.registry.register(
            _GaugeCollector(read_gauges, labels, old_names, engines, current=current)
        )

        prefix = "vllm:gpu_prefix_cache" if old_names else "vllm:prefix_cache"
        self.prefix_cache_queries = Counter(
            f"{prefix}_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self.prefix_cache_hits = Counter(
            f"{prefix}_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", names,
            registry=self.registry,
        ).labels(**labels)  # fmt: skip
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", names,
            registry=self.registry,
        ).labels(**labels)  # fmt: skip
        success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            [*names, "finished_reason"],
            registry=self.registry,
        )
        # Create every reason up front, as vLLM does, so a scrape shows zeros, not absences.
        reasons = FINISHED_REASONS_034 if current else FINISHED_REASONS
        self.request_success = {
            reason: success.labels(**labels, finished_reason=reason) for reason in reasons
        }
        self.time_to_first_token = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            names,
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        # Observed per token: 0.34 calls it inter-token latency, and has a per-request mean
        # and the time each finished request waited in the queue besides.
        self.time_per_output_token = Histogram(
            "vllm:inter_token_latency_seconds" if current else "vllm:time_per_output_token_seconds",
            "Histogram of inter-token latency in seconds."
            if current
            else "Histogram of time per output token in seconds.",
            names,
            buckets=TPOT_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        # vllm/v1/metrics/loggers.py: requests preempted (their KV freed, to be recomputed)
        # because a running request could not get a block.
        self.num_preemptions = Counter(
            "vllm:num_preemptions", "Cumulative number of preemption from the engine.", names,
            registry=self.registry,
        ).labels(**labels)  # fmt: skip
        self.request_time_per_output_token: Any = None
        self.request_queue_time: Any = None
        self.admission_rejections: Any = None
        if current:
            # Labelled by model and reason only, both reasons from the start.
            rejections = Counter(
                "vllm:admission_rejections",
                "Number of admission attempts rejected by a queue limit, by reason.",
                ["model_name", "reason"],
                registry=self.registry,
            )
            for reason in ADMISSION_REASONS:
                rejections.labels(model_name=model_name, reason=reason)
            self.admission_rejections = rejections.labels(
                model_name=model_name, reason="max_num_queued_reqs"
            )
            self.request_time_per_output_token = Histogram(
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
                names,
                buckets=TPOT_BUCKETS,
                registry=self.registry,
            ).labels(**labels)
            self.request_queue_time = Histogram(
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                names,
                buckets=E2E_BUCKETS,
                registry=self.registry,
            ).labels(**labels)
        self.e2e_request_latency = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            names,
            buckets=E2E_BUCKETS,
            registry=self.registry,
        ).labels(**labels)

    def render(self) -> bytes:
        return generate_latest(self.registry)
