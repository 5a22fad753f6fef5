"""Everything an emulated worker is configured with, in one frozen value.

``__main__`` builds it from command-line flags; tests build it directly, usually through
``EmulatorConfig.fast()`` and ``dataclasses.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .faults import FaultSpec
from .latency import LatencyModel

DEFAULT_MODEL = "aiportal-emulator"

# "flat" is vLLM up to 0.10.0: {"object": "error", "message", "type", "param", "code"}.
# "nested" is vLLM 0.10.1 and later: {"error": {"message", "type", "param", "code"}}.
ErrorFormat = Literal["flat", "nested"]


@dataclass(frozen=True)
class EmulatorConfig:
    # Served model names, like vLLM's --served-model-name: the first one labels the metrics.
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    host: str = "127.0.0.1"
    port: int = 9001
    # Reported in /emulator/state and the x-aiportal-region header, nothing else.
    region: str | None = None
    max_model_len: int = 8192
    latency: LatencyModel = field(default_factory=LatencyModel)
    # The default answer's length in text tokens (it ends a little short of this, on a
    # sentence, and is cut exactly only when this is smaller than its first paragraph).
    answer_tokens: int = 200
    # vLLM's --block-size and the KV cache's size in blocks: one pool for running requests
    # and the prefix cache (kv_cache_usage_perc is the share running requests hold).
    block_size: int = 16
    kv_cache_blocks: int = 4096
    prefix_caching: bool = True
    # Emit vLLM <= 0.9 names: gpu_cache_usage_perc, gpu_prefix_cache_{queries,hits}.
    old_metric_names: bool = False
    error_format: ErrorFormat = "flat"
    # Length of the vectors POST /v1/embeddings returns (a small sentence-embedding model's).
    embedding_dim: int = 384
    # Seconds an idle connection stays open: vLLM's uvicorn closes it after 5
    # (VLLM_HTTP_TIMEOUT_KEEP_ALIVE).
    keep_alive: float = 5.0
    # vLLM's --data-parallel-size: the load gauges (/metrics, the ORCA header) come once per
    # engine, the worker's load dealt out among them (metrics.engine_split).
    data_parallel_size: int = 1
    # vLLM's --disable-log-stats: /metrics without any vllm: series, no ORCA values.
    disable_log_stats: bool = False
    faults: FaultSpec = field(default_factory=FaultSpec)
    # Generation requests whose prompt contains this text get a 500 (an engine error), as a
    # real worker fails on input its tokenizer or template cannot take: a failure that
    # follows the request from worker to worker. A lone UTF-16 surrogate always does.
    poison: str | None = None
    # vLLM's --max-num-queued-reqs: a generation request that would make more than this many
    # unfinished (running + waiting) is refused at once with vLLM's 503. None: no limit.
    max_num_queued_reqs: int | None = None
    # vLLM's --stream-interval: a stream's first token goes out alone, then one chunk per
    # this many tokens (and whatever is left at the end), as vLLM 0.34's output processor.
    stream_interval: int = 1

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("at least one model name is needed")
        if self.answer_tokens < 1:
            raise ValueError("answer_tokens must be >= 1")
        if self.block_size < 1 or self.kv_cache_blocks < 1:
            raise ValueError("block_size and kv_cache_blocks must be >= 1")
        if self.max_model_len < 2:
            raise ValueError("max_model_len must be >= 2")
        if self.embedding_dim < 1:
            raise ValueError("embedding_dim must be >= 1")
        if self.max_num_queued_reqs is not None and self.max_num_queued_reqs < 0:
            raise ValueError("max_num_queued_reqs must be >= 0")
        if self.stream_interval < 1:
            raise ValueError("stream_interval must be >= 1")
        if self.data_parallel_size < 1:
            raise ValueError("data_parallel_size must be >= 1")
        if self.keep_alive <= 0:
            raise ValueError("keep_alive must be > 0")
        if self.poison == "":
            raise ValueError("poison must not be empty")
        if self.error_format not in ("flat", "nested"):
            raise ValueError("error_format is 'flat' or 'nested'")

    @property
    def metrics_model_name(self) -> str:
        return self.models[0]

    @classmethod
    def fast(cls, **overrides: object) -> EmulatorConfig:
        """A configuration for tests: a quick first token and a fast decode."""
        latency = LatencyModel(ttft_ms=1.0, tokens_per_second=5000.0, concurrency_slowdown=0.0)
        base = cls(latency=latency, port=0)
        return replace(base, **overrides)  # type: ignore[arg-type]
