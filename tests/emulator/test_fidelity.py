"""The emulator against vLLM 0.34's shapes: every case of gateway/emulator/fidelity.py is
played against an emulator and its record compared, frame kind by frame kind, with the
fixture in fixtures/vllm-0.34/ (written from vLLM's source; bench/record_vllm.py refreshes
them from a real server)."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.emulator import EmulatorConfig, running_emulator
from gateway.emulator.fidelity import CASES, Case, compare, play, target_of
from gateway.emulator.latency import LatencyModel

FIXTURES = Path(__file__).parent / "fixtures" / "vllm-0.34"
ROOT = Path(__file__).resolve().parents[2]
LORA = "fidelity-lora"
# A decode slow enough for a client to leave mid-answer, or for one stream to hold the queue.
SLOW = LatencyModel(ttft_ms=5.0, tokens_per_second=40.0, concurrency_slowdown=0.0)


def emulator_for(case: Case) -> EmulatorConfig:
    """The emulator started the way the case needs its server (fidelity.NEEDS)."""
    config = EmulatorConfig.fast(answer_tokens=40, max_model_len=1024)
    if "lora" in case.needs:
        config = replace(config, lora_modules=((LORA, "/adapters/fidelity"),))
    if "load-tracking" in case.needs:
        config = replace(config, server_load_tracking=True)
    if "queue-limit" in case.needs:
        config = replace(config, max_num_queued_reqs=1, latency=SLOW)
    if case.action == "abort":
        config = replace(config, latency=SLOW)
    return config


def fixture_of(case: Case) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{case.name}.json").read_text())


async def record_of(case: Case, config: EmulatorConfig) -> dict[str, Any]:
    async with running_emulator(config) as url, aiohttp.ClientSession() as session:
        target = await target_of(session, url, LORA if "lora" in case.needs else None)
        return await play(session, url, case, target)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_the_emulator_answers_each_case_in_vllm_034s_shape(case):
    record = await record_of(case, emulator_for(case))

    assert compare(fixture_of(case), record) == []


def test_every_case_has_a_fixture_naming_its_vllm_sources_and_no_fixture_is_stray():
    names = {case.name for case in CASES}

    assert {path.stem for path in FIXTURES.glob("*.json")} == names
    assert len(names) >= 40
    for case in CASES:
        fixture = fixture_of(case)
        assert fixture["case"] == case.name
        assert fixture["vllm_version"] == "0.34.0"
        assert fixture["source"] and all(isinstance(s, str) for s in fixture["source"])


@pytest.mark.parametrize(
    "name", ["chat", "chat_stream_include_usage", "completion_stream", "chat_unknown_model"]
)
async def test_the_comparator_tells_the_old_shapes_from_vllm_034s(name):
    case = next(case for case in CASES if case.name == name)

    record = await record_of(case, replace(emulator_for(case), vllm_version="0.10"))

    assert compare(fixture_of(case), record) != []


async def test_record_vllm_writes_fixtures_the_comparator_accepts(tmp_path):
    """bench/record_vllm.py, pointed at the emulator instead of a GPU host."""
    config = replace(emulator_for(CASES[0]), lora_modules=((LORA, "/adapters/fidelity"),))
    async with running_emulator(config) as url:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "record_vllm.py"), "--url", url,
            "--out", str(tmp_path), "--has", "lora", "embedding-model", "--lora", LORA,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()

    assert process.returncode == 0, err.decode()
    written = {path.stem: json.loads(path.read_text()) for path in tmp_path.glob("*.json")}
    # Everything but the cases needing a queue limit, load tracking or request id headers;
    # the base /v1/models case is recorded from a server with an adapter, so it has two cards.
    skipped = {"chat_busy", "load_tracked", "chat_request_id"}
    assert set(written) == {case.name for case in CASES} - skipped
    assert "not played (3)" in out.decode()
    for case in CASES:
        if case.name in written and case.name != "models":
            assert compare(fixture_of(case), written[case.name]) == [], case.name
        if case.name in written:
            assert written[case.name]["source"] == list(case.source)
