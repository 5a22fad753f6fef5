"""Routing simulator: which policy gives the best time to first token on a pool of 8 vLLM-like
workers under multi-turn chat traffic? Runs the gateway's real ``gateway.routing.route``
against simulated workers, in seconds, no sockets. See docs/gateway/routing.md.

    .venv/bin/python bench/routing_sim.py                      # the default sweep
    .venv/bin/python bench/routing_sim.py --rates 3,5 --seeds 1 --policies affinity,llm-d
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim.report import Summary, max_sustained, route_timing, summary_of, table_print
from bench.sim.runner import ALL_POLICIES, SimConfig, simulate
from bench.sim.workload import WorkloadConfig
from gateway.routing import DEFAULT_KV_SATURATION, DEFAULT_TUNING, POLICIES

DEFAULT_RATES = "2,3,4,4.5,5,5.5,6,7"


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part]


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default=DEFAULT_RATES, help="new conversations per second")
    parser.add_argument("--policies", default=",".join(ALL_POLICIES))
    parser.add_argument("--seed", type=int, default=1, help="first trace seed")
    parser.add_argument("--seeds", type=int, default=3, help="traces per point, pooled")
    parser.add_argument("--duration", type=float, default=240.0, help="seconds of arrivals")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds not measured")
    parser.add_argument("--probe", type=float, default=1.0, help="probe interval, seconds")
    parser.add_argument("--slo", type=float, default=2.0, help="p99 TTFT a sustained rate meets")
    parser.add_argument(
        "--unweighted",
        action="store_true",
        help="leave every worker's weight at 1 instead of its relative speed",
    )
    parser.add_argument("--no-prefix-caching", action="store_true")
    parser.add_argument(
        "--kv-saturation",
        type=float,
        default=DEFAULT_KV_SATURATION,
        help="KV-cache use at which a worker counts as saturated (AIPORTAL_KV_SATURATION)",
    )
    parser.add_argument("--balance-factor", type=float, default=DEFAULT_TUNING.balance_factor)
    parser.add_argument("--idle-below", type=float, default=DEFAULT_TUNING.idle_below)
    parser.add_argument(
        "--second-choice-margin",
        default=str(DEFAULT_TUNING.second_choice_margin),
        help="a float, or 'none' for the first worker within bound only",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    return parser.parse_args(argv)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _run(job: tuple[str, SimConfig]) -> Summary:
    policy, config = job
    return summary_of(simulate(policy, config))


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    policies = [p for p in args.policies.split(",") if p]
    known = {*ALL_POLICIES, *(f"{p}@fresh" for p in POLICIES)}
    unknown = set(policies) - known
    if unknown:
        raise SystemExit(f"unknown policies: {', '.join(sorted(unknown))}")
    margin = args.second_choice_margin
    tuning = dataclasses.replace(
        DEFAULT_TUNING,
        balance_factor=args.balance_factor,
        idle_below=args.idle_below,
        second_choice_margin=None if margin.lower() == "none" else float(margin),
    )
    base = SimConfig(
        probe_interval=args.probe,
        warmup=args.warmup,
        prefix_caching=not args.no_prefix_caching,
        tuning=tuning,
        kv_saturation=args.kv_saturation,
        weighted=not args.unweighted,
    )
    jobs = [
        (
            policy,
            dataclasses.replace(
                base,
                seed=seed,
                workload=WorkloadConfig(rate=rate, duration=args.duration),
            ),
        )
        for rate in _floats(args.rates)
        for policy in policies
        for seed in range(args.seed, args.seed + args.seeds)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(_run, jobs, chunksize=1))
    pooled: dict[tuple[str, float], Summary] = {}
    for summary in results:
        key = (summary.policy, summary.rate)
        if key in pooled:
            pooled[key].merge(summary)
        else:
            pooled[key] = summary
    summaries = list(pooled.values())
    elapsed = time.perf_counter() - started

    pool_text = ", ".join(f"{k.name} x{base.pool.count(k)}" for k in dict.fromkeys(base.pool))
    print(
        f"Pool: {pool_text}; weights {'1' if args.unweighted else '= relative speed'}; "
        f"probe every {args.probe:g} s; prefix caching "
        f"{'off' if args.no_prefix_caching else 'on'}"
    )
    print(
        f"Trace: Poisson conversations, {args.duration:g} s of arrivals, first "
        f"{args.warmup:g} s not measured, {args.seeds} trace(s) per point pooled; "
        f"affinity c={tuning.balance_factor:g}, idle below {tuning.idle_below:g}, "
        f"second choice margin {tuning.second_choice_margin}"
    )
    print()
    table_print(summaries, policies=policies)

    print(f"Max rate sustained (p99 TTFT <= {args.slo:g} s), conversations/s:")
    sustained = {
        policy: max_sustained([s for s in summaries if s.policy == policy], slo=args.slo)
        for policy in policies
    }
    for policy in policies:
        value = sustained[policy]
        print(f"  {policy:<18} {'below the lowest rate' if value is None else f'{value:g}'}")
    reached = [v for v in sustained.values() if v is not None]
    if reached and "affinity" in policies:
        top = max(reached)
        by_key = {(s.policy, s.rate): s for s in summaries}
        mine = by_key[("affinity", top)].ttft(0.99)
        print(f"\nAt {top:g} conversations/s, the highest rate the pool sustains:")
        for other in policies:
            if other == "affinity":
                continue
            theirs = by_key[(other, top)].ttft(0.99)
            print(
                f"  affinity p99 {mine:.3f} s vs {other:<18} {theirs:8.3f} s: "
                f"ratio {mine / theirs:.2f}"
            )
        print("Targets:")
        if "round_robin" in policies:
            ratio = mine / by_key[("round_robin", top)].ttft(0.99)
            print(f"  p99 <= 0.5 x round_robin: {ratio:.2f} x, {_verdict(ratio <= 0.5)}")
        for llmd in ("llm-d", "llm-d@fresh"):
            if llmd in policies:
                ratio = mine / by_key[(llmd, top)].ttft(0.99)
                print(f"  p99 below {llmd}: {ratio:.2f} x, {_verdict(ratio < 1)}")

    print("\nroute() cost over 64 workers, µs per call:")
    for policy, micros in route_timing().items():
        print(f"  {policy:<14} {micros:6.1f}")
    print(f"\n{len(jobs)} runs in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
