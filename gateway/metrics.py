"""The portal's own Prometheus metrics (``/metrics`` serves them: gateway/metrics_view.py).

The metrics live in ``REGISTRY``, aiportal's own ``CollectorRegistry`` rather than
prometheus_client's global default: the test process also runs emulators and imports
libraries that register into the default registry, and none of that is the portal's to show.

Who writes what:
- the proxy (gateway/proxy.py) counts requests, completion tokens, first-token and
  per-token inter-token latency, failovers and continuations, and per worker the prompt
  tokens and cached prompt tokens of the answers that reported them;
- the telemetry snapshot (gateway/telemetry/) sets the per-worker gauges each refresh.

A worker's prefix-cache hit rate as the gateway saw it, in PromQL:
``rate(aiportal_worker_cached_prompt_tokens_total[5m])
/ rate(aiportal_worker_prompt_tokens_total[5m])``; the worker's own, between two probes,
is ``aiportal_worker_prefix_cache_hit_rate``.

Each Daphne process keeps its own values (no multiprocess mode): scrape every replica.

State: the counters, histograms and gauges in ``REGISTRY``, per process, never reset.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds; fine below a second where a healthy first token lands, coarse beyond.
_TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0)
_ITL_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)

# outcome: complete, stopped, error, rejected (the same words as UsageRecord.outcome).
REQUESTS_TOTAL = Counter(
    "aiportal_requests",  # prometheus_client appends _total
    "Generation requests the gateway finished, by model and outcome.",
    ["model", "outcome"],
    registry=REGISTRY,
)
TTFT_SECONDS = Histogram(
    "aiportal_ttft_seconds",
    "Seconds from accepting a request to its first generated token, as the client sees it.",
    buckets=_TTFT_BUCKETS,
    registry=REGISTRY,
)
INTER_TOKEN_SECONDS = Histogram(
    "aiportal_inter_token_seconds",
    "Seconds between consecutive generated tokens of one streamed response, as the client "
    "sees them (a chunk of k tokens after a gap g counts k gaps of g/k).",
    buckets=_ITL_BUCKETS,
    registry=REGISTRY,
)
COMPLETION_TOKENS_TOTAL = Counter(
    "aiportal_completion_tokens",
    "Tokens generated for answers, by model, from the workers' usage (not stream frames).",
    ["model"],
    registry=REGISTRY,
)
FAILOVERS_TOTAL = Counter(
    "aiportal_failovers",
    "Times a request moved to another worker before its first token.",
    registry=REGISTRY,
)
CONTINUATIONS_TOTAL = Counter(
    "aiportal_continuations",
    "Times a stream broken after its first token was continued on another worker.",
    registry=REGISTRY,
)

_WORKER_LABELS = ["worker", "region"]
WORKER_UP = Gauge(
    "aiportal_worker_up",
    "1 when the worker's last probe succeeded, else 0.",
    _WORKER_LABELS,
    registry=REGISTRY,
)
WORKER_INFLIGHT = Gauge(
    "aiportal_worker_inflight",
    "Streams the gateway has open to the worker, across all web processes.",
    _WORKER_LABELS,
    registry=REGISTRY,
)
WORKER_QUEUE = Gauge(
    "aiportal_worker_queue",
    "Requests waiting in the worker's own queue (vLLM num_requests_waiting).",
    _WORKER_LABELS,
    registry=REGISTRY,
)
WORKER_KV_USAGE = Gauge(
    "aiportal_worker_kv_usage",
    "The worker's KV-cache usage, 0..1.",
    _WORKER_LABELS,
    registry=REGISTRY,
)
WORKER_CIRCUIT_OPEN = Gauge(
    "aiportal_worker_circuit_open",
    "1 while the gateway's circuit breaker keeps the worker out of routing.",
    _WORKER_LABELS,
    registry=REGISTRY,
)

# Only answers whose usage carried prompt_tokens_details.cached_tokens (vLLM started with
# --enable-prompt-tokens-details), and not continued ones: both counters cover the same
# requests, so their ratio is the hit rate even when some workers do not report.
WORKER_PROMPT_TOKENS = Counter(
    "aiportal_worker_prompt_tokens",
    "Prompt tokens of the answers the worker gave that reported cached tokens.",
    _WORKER_LABELS,
    registry=REGISTRY,
)
WORKER_CACHED_PROMPT_TOKENS = Counter(
    "aiportal_worker_cached_prompt_tokens",
    "Of those prompt tokens, the ones the worker served from its prefix cache "
    "(usage.prompt_tokens_details.cached_tokens).",
    _WORKER_LABELS,
    registry=REGISTRY,
)
WORKER_KV_CAPACITY_TOKENS = Gauge(
    "aiportal_worker_kv_capacity_tokens",
    "The worker's KV cache in tokens (vllm:cache_config_info num_gpu_blocks x block_size).",
    _WORKER_LABELS,
    registry=REGISTRY,
)
WORKER_PREFIX_CACHE_HIT_RATE = Gauge(
    "aiportal_worker_prefix_cache_hit_rate",
    "The worker's own prefix-cache hit rate between its last two probes with lookups "
    "(vllm:prefix_cache_hits / vllm:prefix_cache_queries), 0..1.",
    _WORKER_LABELS,
    registry=REGISTRY,
)
