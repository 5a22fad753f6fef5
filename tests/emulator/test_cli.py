"""``python -m gateway.emulator``: the READY line, the flags, a clean exit on signals."""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"^READY (http://127\.0\.0\.1:(\d+))\n$")


def launch(*flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.emulator", "--host", "127.0.0.1", "--port", "0", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ready_url(process: subprocess.Popen[str], timeout: float = 15) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            pytest.fail("the emulator printed nothing")
    line = process.stdout.readline()
    match = READY.match(line)
    if not match:
        process.kill()
        _, err = process.communicate(timeout=10)
        pytest.fail(f"unexpected first line {line!r}; stderr: {err}")
    return match.group(1)


def test_it_prints_ready_serves_and_exits_cleanly_on_sigterm():
    process = launch("--region", "eu-west", "--model", "m1", "--model", "m2",
                     "--tokens-per-second", "2000")  # fmt: skip
    try:
        url = ready_url(process)
        health = httpx.get(url + "/health", timeout=5)
        models = httpx.get(url + "/v1/models", timeout=5).json()
        answer = httpx.post(
            url + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
            timeout=5,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)

    assert health.status_code == 200
    assert health.headers["x-aiportal-region"] == "eu-west"
    assert [m["id"] for m in models["data"]] == ["m1", "m2"]
    assert answer.json()["model"] == "m1"
    assert process.returncode == 0, err
    assert out == ""  # exactly one line on stdout, read above


def test_fault_flags_apply_from_the_start_and_sigint_also_exits_cleanly():
    process = launch("--status-503", "--fault-times", "1", "--old-metric-names")
    try:
        url = ready_url(process)
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        first = httpx.post(url + "/v1/chat/completions", json=body, timeout=5)
        second = httpx.post(url + "/v1/chat/completions", json=body, timeout=5)
        metrics = httpx.get(url + "/metrics", timeout=5).text
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)

    assert (first.status_code, second.status_code) == (503, 200)
    assert "vllm:gpu_cache_usage_perc" in metrics
    assert process.returncode == 0


def test_bad_flags_are_refused_with_usage_status():
    result = subprocess.run(
        [sys.executable, "-m", "gateway.emulator", "--tokens-per-second", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=15,
    )

    assert result.returncode == 2
    assert "token rates must be > 0" in result.stderr
    assert result.stdout == ""


def test_the_vllm_server_flags_reach_the_config():
    from gateway.emulator.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(
        [
            *("--keep-alive", "0.5", "--data-parallel-size", "2"),
            *("--disable-log-stats", "--stream-interval", "4"),
        ]
    )
    config = config_from_args(args)
    assert (config.keep_alive, config.data_parallel_size, config.disable_log_stats) == (
        0.5,
        2,
        True,
    )
    defaults = config_from_args(build_parser().parse_args([]))
    assert (defaults.keep_alive, defaults.data_parallel_size) == (5.0, 1)
    assert not defaults.disable_log_stats
    assert (config.stream_interval, defaults.stream_interval) == (4, 1)


@pytest.mark.parametrize(
    "flags", [("--keep-alive", "0"), ("--data-parallel-size", "0"), ("--stream-interval", "0")]
)
def test_a_bad_keep_alive_or_engine_count_is_refused(flags):
    from gateway.emulator.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(list(flags))
    assert exited.value.code == 2


def test_the_version_load_tracking_and_lora_flags_reach_the_config():
    from gateway.emulator.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(
        [
            *("--vllm-version", "0.10", "--enable-server-load-tracking"),
            *("--lora-modules", "sql=/adapters/sql", "chat=/adapters/chat", "--max-loras", "2"),
        ]
    )
    config = config_from_args(args)
    defaults = config_from_args(build_parser().parse_args([]))

    assert (config.vllm_version, config.errors, config.server_load_tracking) == (
        "0.10",
        "flat",
        True,
    )
    assert config.lora_modules == (("sql", "/adapters/sql"), ("chat", "/adapters/chat"))
    assert config.max_loras == 2
    assert (defaults.vllm_version, defaults.errors, defaults.lora_modules) == ("0.34", "nested", ())
    forced = config_from_args(build_parser().parse_args(["--error-format", "flat"]))
    assert (forced.vllm_version, forced.errors) == ("0.34", "flat")


@pytest.mark.parametrize(
    "flags", [("--vllm-version", "0.9"), ("--lora-modules", "no-path"), ("--max-loras", "0")]
)
def test_a_bad_version_or_lora_module_is_refused(flags):
    from gateway.emulator.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(list(flags))
    assert exited.value.code == 2
