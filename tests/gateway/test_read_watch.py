"""``ReadWatch``: one timer for a stream's first-frame and idle timeouts. A read waiting
past its bound is cancelled and reported as a timeout; time between reads is not counted;
another cancellation is never mistaken for a timeout. (The proxy's failover and
continuation tests run it against real emulators.)"""

from __future__ import annotations

import asyncio

import pytest

from gateway.attempt import ReadWatch


async def read(watch: ReadWatch, bound: float, source: asyncio.Future) -> str:
    """What attempt_frames does around each read."""
    watch.arm(bound)
    try:
        return await source
    except asyncio.CancelledError:
        if watch.timed_out():
            return "timed out"
        raise
    finally:
        watch.pause()


async def test_a_read_waiting_past_its_bound_is_cancelled_and_reported_as_a_timeout():
    loop = asyncio.get_running_loop()
    watch = ReadWatch(loop)
    started = loop.time()

    outcome = await read(watch, started + 0.05, loop.create_future())

    assert outcome == "timed out"
    assert loop.time() - started >= 0.05
    assert asyncio.current_task().cancelling() == 0  # the cancellation was taken back
    watch.stop()


async def test_reads_that_keep_coming_before_their_bounds_never_time_out():
    loop = asyncio.get_running_loop()
    watch = ReadWatch(loop)
    for _ in range(5):  # each bound 50 ms on; a frame every 20 ms: 100 ms in all
        source = loop.create_future()
        loop.call_later(0.02, source.set_result, "frame")
        assert await read(watch, loop.time() + 0.05, source) == "frame"
    watch.stop()


async def test_time_spent_between_reads_does_not_count():
    loop = asyncio.get_running_loop()
    watch = ReadWatch(loop)
    first = loop.create_future()
    first.set_result("frame")
    assert await read(watch, loop.time() + 0.03, first) == "frame"

    await asyncio.sleep(0.08)  # the frame going downstream, past the old bound

    source = loop.create_future()
    loop.call_later(0.01, source.set_result, "next")
    assert await read(watch, loop.time() + 0.03, source) == "next"
    watch.stop()


async def test_a_sooner_bound_moves_the_timer():
    loop = asyncio.get_running_loop()
    watch = ReadWatch(loop)
    waiting = loop.create_future()
    waiting.set_result("first")
    assert await read(watch, loop.time() + 30, waiting) == "first"  # a long first bound

    started = loop.time()
    assert await read(watch, started + 0.05, loop.create_future()) == "timed out"
    assert loop.time() - started < 5
    watch.stop()


async def test_another_cancellation_is_not_taken_for_a_timeout():
    loop = asyncio.get_running_loop()
    watch = ReadWatch(loop)
    reader = asyncio.ensure_future(read(watch, loop.time() + 30, loop.create_future()))
    await asyncio.sleep(0.01)

    reader.cancel()  # the client left

    with pytest.raises(asyncio.CancelledError):
        await reader
    watch.stop()


async def test_a_client_leaving_as_the_watch_fires_is_still_a_cancellation():
    loop = asyncio.get_running_loop()
    watch = ReadWatch(loop)
    bound = loop.time() + 0.02
    reader = asyncio.ensure_future(read(watch, bound, loop.create_future()))
    # Due on the same loop turn as the watch's timer: both cancel before the reader runs.
    loop.call_at(bound, reader.cancel)

    with pytest.raises(asyncio.CancelledError):
        await reader
    watch.stop()


async def test_a_stopped_watch_never_cancels_even_if_stopped_mid_read():
    """attempt_frames stops its watch when the stream ends, however it ends."""
    loop = asyncio.get_running_loop()
    watch = ReadWatch(loop)
    watch.arm(loop.time() + 0.02)  # a read begins...

    watch.stop()  # ...and the stream is closed before it ends

    await asyncio.sleep(0.05)  # past the bound: a live timer would cancel this task here
    assert asyncio.current_task().cancelling() == 0
