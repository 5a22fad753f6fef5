"""What probing costs the web process that runs the prober: CPU per worker probe.

    .venv/bin/python bench/probe_cost.py [--workers 4] [--cycles 200]

The elected prober runs in one web process's event loop, beside the streams that process
serves, and reads ``/health`` and ``/metrics`` of every worker about once a second: each
probe's CPU is taken from that loop. The bench starts ``--workers`` emulators, runs the
prober's own ``worker_probe`` for all of them at once, ``--cycles`` times, and prints this
process's CPU (user + system) per worker probe and the wall time per cycle. For comparison it
makes the same two reads, unparsed, through the prober's aiohttp session and through an httpx
client (what the prober used before), and prints what each costs a loop at one probe a
second for a pool of 50 workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READS = ("/health", "/metrics")
sys.path.insert(0, str(ROOT))


async def _timed(cycle, cycles: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per cycle, after a few unmeasured ones (connections)."""
    for _ in range(5):
        await cycle()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(cycles):
        await cycle()
    return (time.process_time() - cpu) / cycles, (time.perf_counter() - wall) / cycles


async def _measure(urls: list[str], cycles: int) -> dict[str, tuple[float, float]]:
    import httpx

    from gateway.http import probe_session
    from gateway.telemetry.prober import worker_probe
    from gateway.types import WorkerSpec

    specs = [WorkerSpec(url=url, region="bench") for url in urls]
    states = {spec.url: None for spec in specs}

    async def prober_cycle() -> None:
        results = await asyncio.gather(
            *(worker_probe(s, states[s.url], seconds=2, models_due=False) for s in specs)
        )
        for spec, state in zip(specs, results, strict=True):
            assert state.healthy and state.metrics_at, state.error
            states[spec.url] = state

    async def aiohttp_read(url: str) -> bool:
        async with probe_session().get(url) as page:
            return page.status == 200 and (await page.text()) is not None

    async def aiohttp_cycle() -> None:
        pages = [aiohttp_read(f"{url}{path}") for url in urls for path in READS]
        assert all(await asyncio.gather(*pages))

    async with httpx.AsyncClient(trust_env=False, timeout=2) as client:

        async def httpx_cycle() -> None:
            pages = await asyncio.gather(
                *(client.get(f"{url}{path}") for url in urls for path in READS)
            )
            assert all(page.status_code == 200 and page.text is not None for page in pages)

        return {
            "the prober (parse included)": await _timed(prober_cycle, cycles),
            "its two reads, aiohttp": await _timed(aiohttp_cycle, cycles),
            "its two reads, httpx": await _timed(httpx_cycle, cycles),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiportal.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # nothing is signed
    import django

    django.setup()
    from bench.gateway_overhead import emulators_start, stop

    emulators, urls = emulators_start(args.workers, 50, 50)
    try:
        figures = asyncio.run(_measure(urls, args.cycles))
    finally:
        for process in emulators:
            stop(process)
    print(f"# {args.workers} emulators, {args.cycles} cycles; {os.cpu_count()} CPUs")
    print(f"{'what':<28} {'CPU ms/worker':>13} {'wall ms/cycle':>13} {'50 workers at 1/s':>18}")
    for name, (cpu, wall) in figures.items():
        per_worker = cpu / args.workers
        print(
            f"{name:<28} {per_worker * 1000:13.3f} {wall * 1000:13.2f} "
            f"{per_worker * 50 * 100:16.1f} %"
        )
    print("# the last column: the share of one core the probes take from the prober's loop")


if __name__ == "__main__":
    main()
