"""``attempt_batches``: the frames of one read come out together, and what fails after some
frames of a read is raised only once those frames were handed out (the relay sends them:
the client keeps what it was sent). A worker written in a few lines of aiohttp sends whole
reads at once, which the emulator (a write per frame) does not do reliably."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from gateway.attempt import AttemptFailed, attempt_batches, attempt_frames
from gateway.emulator.server import bound_port, make_runner
from gateway.errors import UpstreamRejected
from gateway.types import WorkerSpec


def chunk(text: str, *, finish: str | None = None, tokens: int = 1) -> bytes:
    frame = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": tokens, "total_tokens": 3 + tokens},
    }
    return b"data: " + json.dumps(frame).encode() + b"\n\n"


async def with_worker(writes: list[bytes], check):
    """Serve one streamed answer made of ``writes`` (each one write, flushed), then run
    ``check(spec)``."""

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for data in writes:
            await response.write(data)
            await asyncio.sleep(0.05)  # each write its own read on the other side
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    runner = make_runner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await check(WorkerSpec(url=f"http://127.0.0.1:{bound_port(runner)}", region="r"))
    finally:
        await runner.cleanup()


def batches_of(spec: WorkerSpec):
    deadline = asyncio.get_running_loop().time() + 10
    body = {"model": "m", "messages": [], "stream": True}
    return attempt_batches(spec, path="chat/completions", body=body, deadline=deadline)


def texts(batch: list[dict]) -> list[str]:
    return [frame["choices"][0]["delta"]["content"] for frame in batch]


async def test_the_frames_of_one_read_come_as_one_batch():
    writes = [chunk("a"), chunk("b", tokens=2) + chunk("c", tokens=3), chunk("d", finish="stop")]

    async def check(spec: WorkerSpec) -> None:
        seen = [texts(batch) async for batch in batches_of(spec)]
        assert seen == [["a"], ["b", "c"], ["d"]] or seen == [["a"], ["b", "c", "d"]]

    await with_worker([*writes, b"data: [DONE]\n\n"], check)


async def test_frames_before_a_malformed_one_in_the_same_read_are_handed_out_first():
    writes = [chunk("a"), chunk("b") + b"data: {not json\n\n"]

    async def check(spec: WorkerSpec) -> None:
        seen = []
        with pytest.raises(AttemptFailed) as failed:
            async for batch in batches_of(spec):
                seen.append(texts(batch))
        assert seen == [["a"], ["b"]]
        assert failed.value.reason == "a malformed frame"
        assert not failed.value.before_first

    await with_worker(writes, check)


async def test_frames_before_a_rejection_in_the_same_read_are_handed_out_first():
    error = {"error": {"message": "bad request", "type": "BadRequestError", "code": 400}}
    writes = [chunk("a") + b"data: " + json.dumps(error).encode() + b"\n\n"]

    async def check(spec: WorkerSpec) -> None:
        seen = []
        with pytest.raises(UpstreamRejected):
            async for batch in batches_of(spec):
                seen.append(texts(batch))
        assert seen == [["a"]]

    await with_worker(writes, check)


async def test_attempt_frames_gives_the_same_frames_one_by_one():
    writes = [chunk("a"), chunk("b", tokens=2) + chunk("c", tokens=3, finish="stop")]

    async def check(spec: WorkerSpec) -> None:
        deadline = asyncio.get_running_loop().time() + 10
        body = {"model": "m", "messages": [], "stream": True}
        frames = attempt_frames(spec, path="chat/completions", body=body, deadline=deadline)
        assert [texts([frame])[0] async for frame in frames] == ["a", "b", "c"]

    await with_worker([*writes, b"data: [DONE]\n\n"], check)


async def test_a_frame_that_is_not_utf8_is_read_as_the_text_parser_read_it():
    # Bytes the decoder would have replaced: still a frame, not a malformed one.
    bad = chunk("a").replace(b'"a"', b'"a\xff"')
    writes = [bad, b"data: [DONE]\n\n"]

    async def check(spec: WorkerSpec) -> None:
        seen = [texts(batch) async for batch in batches_of(spec)]
        assert seen == [["a\ufffd"]]

    await with_worker(writes, check)
