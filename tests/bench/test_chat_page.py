"""bench/chat_page.py runs end to end at a tiny size, so that it cannot rot (its figures are
read by hand from a real run, not here)."""

from __future__ import annotations

import re

import pytest

from tests.bench.support import bench_run

RENDER = re.compile(r"^conversation of 6 messages\s+(?P<median>\d+)\s+(?P<worst>\d+)$", re.M)
BYTES = re.compile(r"^the page's own JS \+ CSS: (?P<files>\d+) files, (?P<kb>[\d.]+) KB", re.M)
TRANSFERRED = re.compile(
    r"^(?P<page>conversation of 6 messages|start page, 3 conversations)\s+(?P<kib>[\d.]+)\s+"
    r"(?P<requests>\d+)  \(target < 250 KiB: (?P<verdict>met|NOT MET)\)$",
    re.M,
)

pytestmark = pytest.mark.browser


def test_the_page_bench_opens_a_conversation_in_chromium_and_prints_its_figures():
    result = bench_run("chat_page.py", *("--conversations", "3", "--messages", "6", "--loads", "1"))
    render, size = RENDER.search(result.stdout), BYTES.search(result.stdout)
    assert render and size, result.stdout
    assert 0 < int(render["median"]) <= int(render["worst"])
    # It found the page's own modules (chat.js and the ones it imports) and weighed them.
    assert int(size["files"]) >= 3 and float(size["kb"]) > 0
    # A cold load of the chat page, every byte over the wire, against the 250 KiB target.
    loads = {m["page"]: m for m in TRANSFERRED.finditer(result.stdout)}
    assert set(loads) == {"conversation of 6 messages", "start page, 3 conversations"}, (
        result.stdout
    )
    for load in loads.values():
        # The page, its own modules and the libraries: several requests, all counted.
        assert int(load["requests"]) >= 10, result.stdout
        assert 50 < float(load["kib"]) < 250, result.stdout
        assert load["verdict"] == "met", result.stdout
