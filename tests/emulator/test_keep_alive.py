"""The emulator closes an idle connection after its keep-alive, as vLLM's uvicorn does after
VLLM_HTTP_TIMEOUT_KEEP_ALIVE (5 s), and keeps a busy one open."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from gateway.emulator import EmulatorConfig

REQUEST = b"GET /health HTTP/1.1\r\nHost: worker\r\nConnection: keep-alive\r\n\r\n"


async def _health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    return head


async def test_an_idle_connection_is_closed_after_the_keep_alive(start_emulator):
    parts = urlsplit(await start_emulator(keep_alive=0.3))
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        assert (await _health(reader, writer)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.1)
        assert (await _health(reader, writer)).startswith(b"HTTP/1.1 200")  # still open
        async with asyncio.timeout(2):
            assert await reader.read() == b""  # closed by the worker, idle past 0.3 s
    finally:
        writer.close()


def test_the_default_keep_alive_is_vllms():
    assert EmulatorConfig().keep_alive == 5.0
