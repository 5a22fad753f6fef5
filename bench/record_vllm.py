"""Record vLLM's reply shapes from a real server, as fixtures for the emulator's fidelity test.

    .venv/bin/python bench/record_vllm.py --url http://gpu-host:8000 \\
        [--out tests/emulator/fixtures/vllm-0.34] [--has request-id-headers ...] \\
        [--lora NAME] [--case NAME ...] [--check]

Plays every case of ``gateway/emulator/fidelity.py`` (the list tests/emulator/test_fidelity.py
plays against the emulator) against the vLLM at ``--url`` and writes one fixture per case:
status, content type and key headers, and per frame kind the key paths and value types.
A case that needs more than a plain ``vllm serve MODEL`` (see ``fidelity.NEEDS``: request id
headers, load tracking, a queue limit, a LoRA adapter, an embedding model) is played only
when ``--has`` says the server was started that way. With ``--check`` nothing is written:
each case is compared with its fixture and the differences are printed (exit status 1 if
any), which is also how this script is tested against the emulator.

For a full refresh start vLLM with
``--enable-request-id-headers --enable-server-load-tracking --max-num-queued-reqs 1
--enable-lora --lora-modules fidelity-lora=PATH`` and pass ``--has request-id-headers
load-tracking queue-limit lora --lora fidelity-lora``; record the embedding cases from an
embedding model's server with ``--has embedding-model --case embeddings embeddings_base64``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.emulator.fidelity import (  # noqa: E402
    CASES,
    NEEDS,
    compare,
    fixture,
    play,
    target_of,
)

DEFAULT_OUT = ROOT / "tests" / "emulator" / "fixtures" / "vllm-0.34"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="the vLLM server, e.g. http://host:8000")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the fixtures' folder")
    p.add_argument(
        "--has",
        nargs="*",
        default=[],
        choices=sorted(NEEDS),
        help="what the server was started with, beyond a plain `vllm serve`",
    )
    p.add_argument("--lora", help="the name of a served LoRA adapter (with --has lora)")
    p.add_argument("--case", nargs="*", help="only these cases")
    p.add_argument("--check", action="store_true", help="compare with the fixtures, write none")
    p.add_argument("--recorded-from", help="written into each fixture (default: the URL)")
    return p


async def record(args: argparse.Namespace) -> int:
    import aiohttp

    url = args.url.rstrip("/")
    chosen = [
        case
        for case in CASES
        if (not args.case or case.name in args.case) and set(case.needs) <= set(args.has)
    ]
    failures = 0
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        target = await target_of(session, url, args.lora)
        for case in chosen:
            observed = await play(session, url, case, target)
            path = args.out / f"{case.name}.json"
            if args.check:
                expected = json.loads(path.read_text())
                problems = compare(expected, observed)
                failures += bool(problems)
                print(f"{'FAIL' if problems else 'ok  '} {case.name}")
                for problem in problems:
                    print(f"       {problem}")
                continue
            args.out.mkdir(parents=True, exist_ok=True)
            body = fixture(case, observed, args.recorded_from or f"vLLM at {url}")
            path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n")
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    skipped = [case.name for case in CASES if case not in chosen]
    if skipped:
        print(f"not played ({len(skipped)}): {', '.join(skipped)}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(record(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
