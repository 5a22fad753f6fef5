"""Everything an emulated worker is configured with, in one frozen value.

``__main__`` builds it from command-line flags; tests build it directly, usually through
``EmulatorConfig.fast()`` and ``dataclasses.replace``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from .faults import FaultSpec
from .latency import LatencyModel
from .minilm import DIMENSION as MINILM_DIMENSION

DEFAULT_MODEL = "aiportal-emulator"

# "flat" is vLLM up to 0.10.0: {"object": "error", "message", "type", "param", "code"}.
# "nested" is vLLM 0.10.1 and later: {"error": {"message", "type", "param", "code"}}.
ErrorFormat = Literal["flat", "nested"]

# Which vLLM the emulator answers as. "0.34" (the default) is vLLM 0.34.0, read from its
# source (docs/emulator.md lists each behaviour and its file); "0.10" keeps the shapes the
# emulator copied from vLLM 0.8-0.10: flat errors, no system_fingerprint, a 400 when
# max_tokens does not fit the context, the 0.10 metric names.
VllmVersion = Literal["0.34", "0.10"]
VLLM_VERSIONS: tuple[VllmVersion, ...] = ("0.34", "0.10")
# What GET /version answers (vllm/entrypoints/serve/instrumentator/basic.py).
VERSION_STRINGS = {"0.34": "0.34.0", "0.10": "0.10.1+aiportal.emulator"}


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
    vllm_version: VllmVersion = "0.34"
    # None: the version's own (nested from vLLM 0.10.1, so nested for "0.34", flat for "0.10").
    error_format: ErrorFormat | None = None
    # vLLM's --enable-server-load-tracking: GET /load counts the generation and embedding
    # requests in flight; without it /load answers {"server_load": 0} whatever the load.
    server_load_tracking: bool = False
    # vLLM's --lora-modules name=path: adapters served under their own model name, listed in
    # /v1/models with the base model as ``parent``, and vllm:lora_requests_info in /metrics.
    lora_modules: tuple[tuple[str, str], ...] = ()
    # vLLM's --max-loras: the max_lora label of vllm:lora_requests_info.
    max_loras: int = 1
    # Length of the vectors POST /v1/embeddings returns (a small sentence-embedding model's).
    embedding_dim: int = 384
    # Served model names whose embeddings come from the real all-MiniLM-L6-v2 (minilm.py, the
    # optional extra ``minilm``) instead of hashed features: for the retrieval benchmark.
    minilm_models: tuple[str, ...] = ()
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
    # A loaded vLLM sends several tokens per chunk when its server reads the engine's output
    # late (RequestOutputCollector merges them): the emulator does the same when a request's
    # next token is due before the last one went out. Off in tests that count frames.
    coalesce_when_behind: bool = True
    # vLLM's --enable-prompt-tokens-details: usage carries prompt_tokens_details with the
    # prompt tokens served from the prefix cache (off by default, as in vLLM; cache_usage.py).
    enable_prompt_tokens_details: bool = False
    # vLLM's --enable-auto-tool-choice and --tool-call-parser: on here (vLLM's default is
    # off), so that a demo or a test can use tools; see tool_calls.py. None: no parser.
    enable_auto_tool_choice: bool = True
    tool_call_parser: str | None = "hermes"
    # Without a seed, answers vary from request to request ("vary", as a sampling model's
    # do) or are a function of the prompt alone ("fixed", for tests that compare answers).
    unseeded_answers: Literal["vary", "fixed"] = "vary"
    # vLLM's --reasoning-parser: chat answers think first, streamed as delta.reasoning
    # (gateway/emulator/reasoning.py). Any name is taken; None serves a plain model.
    reasoning_parser: str | None = None
    # The thinking's length in tokens, when a reasoning parser is set.
    reasoning_tokens: int = 48

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
        if set(self.minilm_models) - set(self.models):
            raise ValueError("a MiniLM-backed model must be one of the served models (--model)")
        if self.minilm_models and self.embedding_dim != MINILM_DIMENSION:
            raise ValueError(
                f"all-MiniLM-L6-v2's vectors have {MINILM_DIMENSION} numbers: "
                f"the embedding dimension must be {MINILM_DIMENSION} with --minilm-model"
            )
        if self.max_num_queued_reqs is not None and self.max_num_queued_reqs < 0:
            raise ValueError("max_num_queued_reqs must be >= 0")
        if self.stream_interval < 1:
            raise ValueError("stream_interval must be >= 1")
        if self.data_parallel_size < 1:
            raise ValueError("data_parallel_size must be >= 1")
        if self.keep_alive <= 0:
            raise ValueError("keep_alive must be > 0")
        if self.reasoning_parser == "" or self.reasoning_tokens < 1:
            raise ValueError("reasoning_parser must not be empty, reasoning_tokens >= 1")
        if self.poison == "":
            raise ValueError("poison must not be empty")
        if self.tool_call_parser not in (None, "hermes"):
            raise ValueError("tool_call_parser is 'hermes' or None")
        if self.enable_auto_tool_choice and self.tool_call_parser is None:
            # vLLM: "--enable-auto-tool-choice requires --tool-call-parser".
            raise ValueError("enable_auto_tool_choice requires a tool_call_parser")
        if self.unseeded_answers not in ("vary", "fixed"):
            raise ValueError("unseeded_answers is 'vary' or 'fixed'")
        if self.error_format not in (None, "flat", "nested"):
            raise ValueError("error_format is 'flat' or 'nested'")
        if self.vllm_version not in VLLM_VERSIONS:
            raise ValueError(f"vllm_version is one of {', '.join(VLLM_VERSIONS)}")
        names = [name for name, _ in self.lora_modules]
        if len(set(names)) != len(names) or set(names) & set(self.models):
            raise ValueError("a LoRA adapter needs a name of its own")
        if self.max_loras < 1:
            raise ValueError("max_loras must be >= 1")

    @property
    def metrics_model_name(self) -> str:
        return self.models[0]

    @property
    def current(self) -> bool:
        """Answering as vLLM 0.34 (not the 0.10 shapes)."""
        return self.vllm_version == "0.34"

    @property
    def errors(self) -> ErrorFormat:
        if self.error_format is not None:
            return self.error_format
        return "nested" if self.current else "flat"

    @property
    def version_string(self) -> str:
        return VERSION_STRINGS[self.vllm_version]

    @cached_property
    def served_names(self) -> tuple[str, ...]:
        """Every name a request may ask for: the models, then the LoRA adapters."""
        return (*self.models, *(name for name, _ in self.lora_modules))

    @cached_property
    def system_fingerprint(self) -> str | None:
        """vLLM 0.34's default ("full") fingerprint, ``vllm-<version>[-dpN]-<hash8>``
        (vllm/entrypoints/serve/utils/fingerprint.py): the hash is of the configuration, so
        it is the same on every answer of one worker. None before 0.34."""
        if not self.current:
            return None
        parts = [f"vllm-{self.version_string}"]
        if self.data_parallel_size > 1:
            parts.append(f"dp{self.data_parallel_size}")
        basis = f"{self.models}|{self.max_model_len}|{self.block_size}|{self.kv_cache_blocks}"
        parts.append(hashlib.sha256(basis.encode()).hexdigest()[:8])
        return "-".join(parts)

    @classmethod
    def fast(cls, **overrides: object) -> EmulatorConfig:
        """A configuration for tests: a quick first token and a fast decode, and unseeded
        answers fixed by the prompt, so that tests may compare two answers."""
        latency = LatencyModel(ttft_ms=1.0, tokens_per_second=5000.0, concurrency_slowdown=0.0)
        base = cls(latency=latency, port=0, unseeded_answers="fixed", coalesce_when_behind=False)
        return replace(base, **overrides)  # type: ignore[arg-type]
