"""``vllm:cache_config_info``: the KV cache's configuration, as labels on a gauge set to 1.

vLLM 0.34 (vllm/v1/metrics/loggers.py, ``log_metrics_info``) writes every field of its
``CacheConfig`` (vllm/config/cache.py, ``metrics_info``: ``str()`` of each value, so
``None``, ``True``, ``[]``) as a label, plus ``engine``: one series per data-parallel engine,
without ``model_name``. ``num_gpu_blocks`` is the worker's whole cache (the engines' blocks
summed, vllm/v1/engine/core_client.py) and ``block_size`` the tokens per block, so their
product is the worker's KV capacity in tokens; ``kv_cache_size_tokens`` is one engine's.

The emulator writes the public fields in vLLM's order, with its own values for the cache's
size, block size and prefix caching and vLLM's defaults for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .config import EmulatorConfig

NAME = "vllm:cache_config_info"


def cache_config_labels(config: EmulatorConfig) -> dict[str, str]:
    engines = config.data_parallel_size
    engine_tokens = config.kv_cache_blocks // engines * config.block_size
    size = str(config.block_size)
    return {
        "block_size": size,
        "user_specified_block_size": "False",
        "kv_cache_layout": "None",
        "prefix_match_unit": "None",
        "gpu_memory_utilization": "0.9",
        "cache_dtype": "auto",
        "is_attention_free": "False",
        "num_gpu_blocks_override": "None",
        "sliding_window": "None",
        "enable_prefix_caching": str(config.prefix_caching),
        "prefix_caching_hash_algo": "sha256",
        "prefix_cache_retention_interval": "0",
        "kv_cache_dtype_skip_layers": "[]",
        "mamba_page_size_padded": "None",
        "skip_page_size_padded": "None",
        "mamba_block_size": "None",
        "mamba_cache_dtype": "auto",
        "mamba_ssm_cache_dtype": "auto",
        "mamba_cache_mode": "none",
        "enable_mamba_shared_prefix_checkpoint": "False",
        "replayssm_buffer_len": "16",
        "use_replayssm": "False",
        "use_kda_recoverssm": "False",
        "num_gpu_blocks": str(config.kv_cache_blocks),
        "num_cpu_blocks": "None",
        "simple_cpu_offload_num_blocks": "None",
        "effective_attention_block_size": size,
        "kv_cache_size_tokens": str(engine_tokens),
        "kv_cache_max_concurrency": str(round(engine_tokens / config.max_model_len, 2)),
        "hash_block_size": size,
        "cache_hit_alignment_tokens": size,
        "kv_sharing_fast_prefill": "False",
        "swa_bounded_replay": "True",
        "kv_cache_memory_bytes": "None",
        "enable_extensible_kv_cache": "False",
        "kv_offloading_size": "None",
        "kv_offloading_backend": "native",
    }


class CacheConfigCollector(Collector):
    """The info gauge, one series per engine (their labels differ only in ``engine``)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._labels = cache_config_labels(config)
        self._engines = config.data_parallel_size

    def collect(self) -> Iterable[Metric]:
        names = [*self._labels, "engine"]
        family = GaugeMetricFamily(NAME, "Information of the LLMEngine CacheConfig", labels=names)
        for index in range(self._engines):
            family.add_metric([*self._labels.values(), str(index)], 1.0)
        yield family
