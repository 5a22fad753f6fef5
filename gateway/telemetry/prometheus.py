"""Reading a vLLM worker's ``/metrics``: the few gauges routing needs, from Prometheus text.

vLLM v1 labels every series with ``engine`` (one per data-parallel engine) and
``model_name``. Counts (running, waiting, prefix-cache tokens) are summed over all series;
the KV-cache usage is a share of each engine's own cache, so it is averaged instead: summing
two engines at 60 % would report a worker at 120 %.

``vllm:cache_config_info`` (vllm/v1/metrics/loggers.py, ``log_metrics_info``) is a gauge set
to 1 whose labels are the worker's cache configuration: ``num_gpu_blocks`` (the whole
worker's, data-parallel engines summed) times ``block_size`` is its KV capacity in tokens.
Every engine's series carries the same two, so the first one is read, and read with two
regular expressions rather than the parser: its three dozen labels cost the library's
parser as much as the rest of the filtered page (per parse of the emulator's page on a
loaded 2-core machine: 3.1 → 6.4 ms with one engine, 4.2 → 16 ms with four).

vLLM ≤ 0.9 names the KV gauge ``vllm:gpu_cache_usage_perc`` and the prefix-cache counters
``vllm:gpu_prefix_cache_*``; both generations are read.

Only the lines of those families reach the parser (``_wanted_lines``, one regular-expression
pass in C). A vLLM page is mostly histograms (latencies, token counts, a dozen buckets each
per engine and model), hundreds of kilobytes that the library's pure-Python parser would
walk every probe, in the web process's event loop: the emulator's 11 KB page cost 1.6 ms to
parse whole and 0.17 ms filtered, and a real worker's page is tens of times larger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
PREFIX_QUERIES = ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total")
PREFIX_HITS = ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total")
CACHE_CONFIG = "vllm:cache_config_info"

_FAMILIES = (RUNNING, WAITING, *KV_USAGE, *PREFIX_QUERIES, *PREFIX_HITS)
# The start of the first cache_config_info sample (its HELP and TYPE lines have no brace),
# and the two labels the capacity needs (a label starts the set or follows a comma:
# ``mamba_block_size`` is not ``block_size``).
_CACHE_CONFIG_SAMPLE = f"\n{CACHE_CONFIG}{{"
_BLOCKS = re.compile(r'(?:^|,)num_gpu_blocks="(\d+)"')
_BLOCK_SIZE = re.compile(r'(?:^|,)block_size="(\d+)"')
# A sample, HELP or TYPE line of one of _FAMILIES: the name (a counter's TYPE line may name
# it without ``_total``) ends at a space or a label set, so longer names do not match.
_WANTED_LINE = re.compile(
    r"^(?:# (?:HELP|TYPE) )?(?:"
    + "|".join(re.escape(name.removesuffix("_total")) for name in _FAMILIES)
    + r")(?:_total)?(?=[ \t{]).*$",
    re.MULTILINE,
)


class MetricsUnreadable(ValueError):
    """The text is not Prometheus exposition, or lacks vLLM's queue gauges."""


class NoLoadMetrics(MetricsUnreadable):
    """A Prometheus page without a single ``vllm:`` series: a vLLM started with
    ``--disable-log-stats`` (vLLM 0.34 still serves /metrics then, with only the HTTP and
    process series). The worker is fine; it just does not say how busy it is."""


# Prometheus exposition's own lines: what tells a metrics page from a proxy's error page.
_EXPOSITION = re.compile(r"^# (?:TYPE|HELP) [A-Za-z_:][A-Za-z0-9_:]* ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class WorkerGauges:
    running: float
    waiting: float
    kv_usage: float  # 0..1
    prefix_queries: float | None = None  # tokens looked up in the prefix cache, cumulative
    prefix_hits: float | None = None  # tokens found there, cumulative
    kv_capacity_tokens: int | None = None  # from vllm:cache_config_info


def metrics_parse(text: str) -> WorkerGauges:
    """The gauges of one scrape. Raises ``MetricsUnreadable`` when the text cannot be parsed
    or does not have vLLM's running/waiting gauges (not a vLLM worker, or a proxy's page)."""
    sums: dict[str, float] = {}
    kv_values: list[float] = []
    wanted = {RUNNING, WAITING, *PREFIX_QUERIES, *PREFIX_HITS}
    try:
        for family in text_string_to_metric_families(_wanted_lines(text)):
            for sample in family.samples:
                if sample.name in wanted:
                    sums[sample.name] = sums.get(sample.name, 0.0) + float(sample.value)
                elif sample.name in KV_USAGE:
                    kv_values.append(float(sample.value))
    except (ValueError, TypeError, IndexError) as exc:
        raise MetricsUnreadable(f"not Prometheus text: {exc}") from None
    if RUNNING not in sums or WAITING not in sums:
        if "vllm:" not in text and _EXPOSITION.search(text):
            raise NoLoadMetrics("no vllm: series (started with --disable-log-stats?)")
        raise MetricsUnreadable("no vllm:num_requests_running / vllm:num_requests_waiting")
    kv_usage = sum(kv_values) / len(kv_values) if kv_values else 0.0
    return WorkerGauges(
        running=sums[RUNNING],
        waiting=sums[WAITING],
        kv_usage=min(max(kv_usage, 0.0), 1.0),
        prefix_queries=_first(sums, PREFIX_QUERIES),
        prefix_hits=_first(sums, PREFIX_HITS),
        kv_capacity_tokens=_kv_capacity(text),
    )


def _kv_capacity(text: str) -> int | None:
    """Blocks times tokens per block; None without the gauge, or while vLLM has not sized
    its cache (``num_gpu_blocks="None"``)."""
    start = text.find(_CACHE_CONFIG_SAMPLE)
    if start < 0:
        return None
    start += len(_CACHE_CONFIG_SAMPLE)
    end = text.find("\n", start)
    labels = text[start : end if end >= 0 else len(text)]
    blocks = _BLOCKS.search(labels)
    size = _BLOCK_SIZE.search(labels)
    if blocks is None or size is None:
        return None
    capacity = int(blocks.group(1)) * int(size.group(1))
    return capacity or None


def _wanted_lines(text: str) -> str:
    return "".join(match.group(0) + "\n" for match in _WANTED_LINE.finditer(text))


def _first(sums: dict[str, float], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in sums:
            return sums[name]
    return None
