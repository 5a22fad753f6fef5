"""What reading one worker's /metrics costs the prober's loop, with and without the cache
families: ``metrics_parse`` on an emulator's page, per data-parallel size.

    .venv/bin/python bench/scrape_parse.py [--engines 1 4] [--number 2000]

``vllm:cache_config_info`` carries three dozen labels per engine; handed to
prometheus_client's pure-Python parser they cost as much as the rest of the filtered page,
so the KV capacity is picked out of the first sample with two regular expressions
(gateway/telemetry/prometheus.py). Prints ms per parse of the page without that family,
with it, and the capacity read alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()
    from gateway.emulator.config import EmulatorConfig
    from gateway.emulator.engine import Engine
    from gateway.telemetry.prometheus import _kv_capacity, metrics_parse

    print(f"# {args.number} parses each; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    for engines in args.engines:
        engine = Engine(EmulatorConfig.fast(data_parallel_size=engines))
        page = engine.metrics.render().decode()
        without = "".join(
            line + "\n" for line in page.splitlines() if "vllm:cache_config_info" not in line
        )

        times = [
            timeit.timeit(call, number=args.number) / args.number * 1000
            for call in (
                lambda text=without: metrics_parse(text),
                lambda text=page: metrics_parse(text),
                lambda text=page: _kv_capacity(text),
            )
        ]
        print(
            f"engines={engines} page={len(page)} B: without cache_config_info "
            f"{times[0]:.3f} ms, with {times[1]:.3f} ms, capacity read alone {times[2]:.4f} ms"
        )


if __name__ == "__main__":
    main()
