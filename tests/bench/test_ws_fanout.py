"""bench/ws_fanout.py runs each of its modes end to end at a tiny size, so that none can rot:
/v1 beside the chat (2 streams), 20 idle sockets, 2 streams across two Daphnes. Its figures
are read by hand from a real run, not here; here they must be printed and parse."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.bench.support import bench_run

NUMBER = r"(-?[\d.]+|-)"
ROW = re.compile(
    rf"^\s+2 (?P<path>emulator|api|chat)\s+(?P<rate>[\d.]+)\s+(?P<p50>[\d.]+)m\s+(?P<p99>[\d.]+)m"
    rf"\s+(?P<added>-?[\d.]+m|-)\s+(?P<per_delta>{NUMBER})\s+(?P<cpu>{NUMBER})"
    rf"\s+(?P<ratio>{NUMBER})\s+(?P<answers>\d+)\s+(?P<errors>\d+)$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def output(migrated_template) -> str:
    # Migrations, emulators and up to three Daphne starts: a minute or two on a busy machine.
    result: subprocess.CompletedProcess = bench_run(
        "ws_fanout.py",
        *("--levels", "2", "--seconds", "2", "--workers", "1"),
        *("--answer-tokens", "20", "--tokens-per-second", "40"),
        *("--idle", "20", "--idle-seconds", "1", "--idle-sample", "5", "--across", "2"),
        timeout=480,
    )
    return result.stdout


def test_the_chat_and_v1_stream_side_by_side_with_their_cpu_ratio(output):
    rows = {row["path"]: row for row in ROW.finditer(output)}
    assert set(rows) == {"emulator", "api", "chat"}, output
    api, chat = rows["api"], rows["chat"]
    for row in (api, chat):
        assert int(row["errors"]) == 0, output
        assert int(row["answers"]) >= 2
        assert float(row["rate"]) > 0 and float(row["p99"]) > 0
        assert float(row["cpu"]) > 0
    ratio = float(chat["ratio"])
    assert ratio == pytest.approx(float(chat["cpu"]) / float(api["cpu"]), rel=0.01)
    assert re.search(r"^# target: chat CPU per token <= 1.5x /v1's: (met|not met) ", output, re.M)
    assert "# target: >= 100 chat streams at 20 tok/s" in output


def test_idle_sockets_stay_open_and_their_memory_is_reported(output):
    opened = re.search(r"opened\s+(\d+) of 20 in [\d.]+ s", output)
    assert opened and opened[1] == "20", output
    rss = re.search(r"before (\d+) KiB\s+after (\d+) KiB\s+per socket (-?[\d.]+) KiB", output)
    assert rss and int(rss[1]) > 0 and int(rss[2]) > 0, output
    assert re.search(r"open 20 of 20\s+pongs 5 of 5\s+round trip p50 [\d.]+ ms", output), output
    assert re.search(r"^# reported: 20 idle sockets: Daphne RSS \+?-?[\d.]+ KiB", output, re.M)


def test_a_second_tab_on_another_daphne_sees_every_delta(output):
    assert "## two Daphnes: 2 streams asked on A" in output, output
    deltas = re.search(
        r"deltas\s+A (\d+)\s+B (\d+)\s+missing on B (\d+)\s+seq gaps on B (\d+)", output
    )
    assert deltas and int(deltas[1]) > 0 and int(deltas[2]) > 0, output
    assert deltas[3] == "0" and deltas[4] == "0", output
    answers = re.search(
        r"answers\s+A (\d+)\s+B (\d+)\s+first answers resumed live (\d+), after their end (\d+)",
        output,
    )
    # Three answers each (the default): B resumes the first, follows the other two.
    assert answers and answers[1] == answers[2] == "6", output
    assert int(answers[3]) + int(answers[4]) == 2, output
    assert re.search(r"errors\s+A 0\s+B 0", output), output
    assert re.search(r"B \(following\) ITL p99\s+[\d.]+ ms\s+added -?[\d.]+ ms", output), output
    assert re.search(r"B minus A, per delta\s+p50 -?[\d.]+ ms\s+p99 -?[\d.]+ ms", output), output
    assert re.search(r"^# target: second tab on the other Daphne at 50 streams", output, re.M)
