"""Failover before the first frame and continuation after it, with the emulator's faults.

The failing worker sits in the caller's home region, so routing tries it first; the healthy
one is elsewhere. Every worker runs the same ``--answer-tokens``, so an answer continued on
another worker is exactly the answer either would give uninterrupted (docs/emulator.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from gateway.callers import Caller
from gateway.emulator.tokens import tokenize
from gateway.errors import DeadlineExceeded, RequestUnprocessable, UpstreamFailed, WorkersBusy
from gateway.proxy import completion_once, completion_stream
from tests.conftest import free_port
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    direct,
    direct_chat,
    emulator_state,
    emulators_fixture,
    faults_set,
    frames_collect,
    frames_text,
    gateway_isolated_fixture,
    snapshot_ready,
    state_wait,
)

HOME = Caller(home_region="home")


async def _pair(emulators, pool, *flags: str) -> tuple[str, str]:
    failing, healthy = emulators.many(("home", *flags), ("away",))
    pool(f"{failing}@home", f"{healthy}@away")
    await snapshot_ready(failing, healthy)
    return failing, healthy


def _chat_body(**extra) -> dict:
    return {"model": MODEL, "messages": QUESTION, "stream": True, "seed": 11, **extra}


async def _stream(body: dict, *, endpoint: str = "chat/completions", caller: Caller = HOME):
    """The frames, and the Finished-like report the chat would get."""
    return await frames_collect(endpoint=endpoint, body=body, caller=caller)


# --- Before the first frame -----------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [("--status-503",), ("--status-500",), ("--fail-before-first-token",)],
    ids=["503", "500", "error-frame-first"],
)
async def test_a_worker_failing_before_its_first_frame_is_left_for_the_next(emulators, pool, flags):
    _, healthy = await _pair(emulators, pool, *flags)
    frames = await _stream(_chat_body(max_tokens=400))
    expected = direct_chat(healthy, seed=11)["choices"][0]["message"]["content"]
    assert frames_text(frames) == expected
    roles = [f for f in frames if (f["choices"] or [{}])[0].get("delta", {}).get("role")]
    assert len(roles) == 1


async def test_a_worker_that_stopped_answering_is_left_for_the_next(emulators, pool, settings):
    gone, healthy = emulators.many(("home",), ("away",))
    pool(f"{gone}@home", f"{healthy}@away")
    await snapshot_ready(gone, healthy)
    # The snapshot still shows it healthy for a moment: the request meets a refused connection.
    settings.AIPORTAL_PROBE_INTERVAL = 60
    emulators.started[0].stop()
    frames = await _stream(_chat_body(max_tokens=20))
    assert frames_text(frames)
    assert (await emulator_state(healthy))["completed"] == 1


async def test_a_first_frame_that_does_not_come_in_time_moves_on(emulators, pool, settings):
    settings.AIPORTAL_FIRST_TOKEN_TIMEOUT = 0.5
    stalled, _ = await _pair(emulators, pool, "--ttft-ms", "5000")
    frames = await _stream(_chat_body(max_tokens=20))
    assert frames_text(frames)
    state = await state_wait(stalled, lambda s: s["aborted"] == 1)
    assert state["aborted"] == 1  # the slow request was given up, upstream too


async def test_it_gives_up_after_max_attempts_with_a_retryable_error(emulators, pool, settings):
    settings.AIPORTAL_MAX_ATTEMPTS = 2
    # Overloaded workers (503, a full queue): the workers' state, not the request's; busy,
    # not broken (tests/gateway/test_failover_busy.py).
    urls = emulators.many(*[("r", "--status-503", "--fault-times", "5")] * 3)
    pool(*(f"{url}@r" for url in urls))
    await snapshot_ready(*urls)
    with pytest.raises(WorkersBusy) as caught:
        await _stream(_chat_body(max_tokens=20), caller=Caller())
    assert caught.value.retryable is True
    tried = [5 - (await emulator_state(url))["faults"]["remaining"] for url in urls]
    assert sorted(tried) == [0, 1, 1]


async def test_two_workers_failing_a_request_on_their_own_end_it_as_the_requests_fault(
    emulators, pool
):
    urls = emulators.many(*[("r", "--fail-before-first-token")] * 3)
    pool(*(f"{url}@r" for url in urls))
    await snapshot_ready(*urls)
    with pytest.raises(RequestUnprocessable) as caught:
        await _stream(_chat_body(max_tokens=20), caller=Caller())
    assert caught.value.status == 422 and caught.value.retryable is False
    tried = [(await emulator_state(url))["failed"] for url in urls]
    assert sorted(tried) == [0, 1, 1]  # the third was never asked


async def test_an_unreachable_pool_is_a_clear_error(pool):
    from gateway.errors import ModelUnavailable

    pool(f"http://127.0.0.1:{free_port()}@r")
    with pytest.raises(ModelUnavailable):
        await _stream(_chat_body(max_tokens=5))


# --- After it: continuation -----------------------------------------------------------------


def _cut_inside_a_line(answer: dict, tokens: int) -> None:
    """The usage of a continued answer equals the uninterrupted one's only when the first part
    did not stop inside whitespace: the worker reads the partial trimmed and writes that
    whitespace again, as vLLM does, and those tokens are generated (and counted) twice."""
    text = answer["choices"][0]["message"]["content"]
    assert not "".join(tokenize(text)[:tokens])[-1].isspace()


async def test_a_chat_stream_that_dies_is_continued_into_one_whole_answer(emulators, pool):
    dying, healthy = await _pair(emulators, pool, "--die-after-tokens", "15")
    body = _chat_body(max_tokens=400, stream_options={"include_usage": True})
    frames = await _stream(body)
    expected = direct_chat(healthy, seed=11)
    _cut_inside_a_line(expected, 15)
    assert frames_text(frames) == expected["choices"][0]["message"]["content"]
    # One stream for the client: one id, one created, one model, one role delta.
    assert len({(f["id"], f["created"], f["model"]) for f in frames}) == 1
    roles = [f for f in frames if f["choices"] and f["choices"][0]["delta"].get("role")]
    assert len(roles) == 1
    usage = frames[-1]["usage"]
    assert usage["prompt_tokens"] == expected["usage"]["prompt_tokens"]
    assert usage["completion_tokens"] == expected["usage"]["completion_tokens"]
    assert usage["total_tokens"] == expected["usage"]["total_tokens"]
    assert [f for f in frames if f["choices"]][-1]["choices"][0]["finish_reason"] == "stop"
    assert (await emulator_state(dying))["failed"] == 1


async def test_a_continued_chat_with_echo_gets_its_partial_once(emulators, pool):
    # vLLM echoes a continuation's final message when asked to: the gateway must not ask.
    _, healthy = await _pair(emulators, pool, "--die-after-tokens", "12")
    frames = await _stream(_chat_body(max_tokens=400, echo=True))
    expected = direct_chat(healthy, seed=11)["choices"][0]["message"]["content"]
    assert frames_text(frames) == expected


async def test_an_answer_the_engine_aborts_is_continued_on_another_worker(emulators, pool):
    aborting, healthy = await _pair(emulators, pool)
    await faults_set(aborting, abort_after_tokens=15, times=1)
    body = _chat_body(max_tokens=400, stream_options={"include_usage": True})
    frames = await _stream(body)
    expected = direct_chat(healthy, seed=11)
    _cut_inside_a_line(expected, 15)
    assert frames_text(frames) == expected["choices"][0]["message"]["content"]
    reasons = [c["finish_reason"] for f in frames for c in f["choices"] if c["finish_reason"]]
    assert reasons == ["stop"]
    usage = [f["usage"] for f in frames if "usage" in f]
    assert len(usage) == 1  # the aborted part's usage frame is not the answer's
    assert usage[0]["completion_tokens"] == expected["usage"]["completion_tokens"]


async def test_a_whole_answer_the_engine_aborts_is_asked_of_another_worker(emulators, pool):
    aborting, healthy = await _pair(emulators, pool)
    await faults_set(aborting, abort_after_tokens=5, times=1)
    answer = await completion_once(
        endpoint="chat/completions", body=_chat_body(stream=False, max_tokens=400), caller=HOME
    )
    expected = direct_chat(healthy, seed=11)
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert (
        answer["choices"][0]["message"]["content"] == expected["choices"][0]["message"]["content"]
    )


async def test_an_answer_that_breaks_after_whitespace_is_stitched_without_a_seam(emulators, pool):
    # vLLM 0.34's chat templates strip the partial's trailing whitespace, and the worker
    # writes it again: it must reach the client once.
    dying, healthy = await _pair(emulators, pool)
    expected = direct_chat(healthy, seed=11)["choices"][0]["message"]["content"]
    tokens = tokenize(expected)
    after = [n for n in range(3, len(tokens)) if tokens[n - 1].isspace()]
    assert after  # the demo answer has line breaks
    for n in after[:2]:
        await faults_set(dying, die_after_tokens=n, times=1)
        frames = await _stream(_chat_body(max_tokens=400))
        assert frames_text(frames) == expected


async def test_a_worker_refusing_continuation_continues_through_its_rendering(emulators, pool):
    # Its chat template refuses continue_final_message (vLLM's 400): the gateway renders the
    # chat with the worker's /tokenize and continues through /v1/completions.
    dying, healthy = await _pair(emulators, pool)
    await faults_set(healthy, refuse_continuation=True)
    expected = direct_chat(healthy, seed=11)
    text = expected["choices"][0]["message"]["content"]
    tokens = tokenize(text)
    after_space = next(n for n in range(3, len(tokens)) if tokens[n - 1].isspace())
    for n in (7, after_space):
        await faults_set(dying, die_after_tokens=n, times=1)
        body = _chat_body(max_tokens=400, stream_options={"include_usage": True})
        frames = await _stream(body)
        assert frames_text(frames) == text
        assert {f["object"] for f in frames} == {"chat.completion.chunk"}
        assert len({(f["id"], f["created"]) for f in frames}) == 1
        ends = [c["finish_reason"] for f in frames for c in f["choices"] if c["finish_reason"]]
        assert ends == ["stop"]
        assert frames[-1]["usage"]["completion_tokens"] == expected["usage"]["completion_tokens"]


async def test_a_worker_without_a_rendering_leaves_the_answer_interrupted():
    from aiohttp import web

    from gateway.continuation_render import completion_body
    from gateway.emulator.server import bound_port, make_runner
    from gateway.types import WorkerSpec

    app = web.Application()  # a worker with no /tokenize: every path is a 404
    runner = make_runner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        spec = WorkerSpec(url=f"http://127.0.0.1:{bound_port(runner)}", region="r")
        chat = _chat_body(messages=[*QUESTION, {"role": "assistant", "content": "Well"}])
        deadline = asyncio.get_running_loop().time() + 5
        assert await completion_body(spec, chat=chat, answer="Well", deadline=deadline) is None
    finally:
        await runner.cleanup()


async def test_the_chat_api_reports_a_continued_answer(emulators, pool, transactional_db, owner):
    from asgiref.sync import sync_to_async

    from gateway.metrics import REGISTRY
    from gateway.models import Policy, UsageRecord
    from gateway.usage import usage_flush
    from tests.gateway.proxy_support import chat_collect

    def continuations() -> float:
        return REGISTRY.get_sample_value("aiportal_continuations_total") or 0.0

    await sync_to_async(Policy.objects.create)(user=owner, home_region="home")
    _, healthy = await _pair(emulators, pool, "--die-after-tokens", "8")
    before = continuations()
    text, finished = await chat_collect(messages=QUESTION, seed=3, max_tokens=400, user=owner)
    expected = direct_chat(healthy, seed=3)
    assert text == expected["choices"][0]["message"]["content"]
    assert finished.finish_reason == "stop"
    assert finished.metrics["continued"] == 1
    assert finished.metrics["region"] == "away"
    assert finished.usage["completion_tokens"] == expected["usage"]["completion_tokens"]
    assert continuations() == before + 1
    await usage_flush()
    record = await UsageRecord.objects.aget(user=owner)
    assert (record.outcome, record.continued, record.failovers) == ("complete", 1, 0)
    assert record.completion_tokens == expected["usage"]["completion_tokens"]
    assert record.prompt_tokens == expected["usage"]["prompt_tokens"]
    assert record.region == "away"


async def test_a_text_completion_that_dies_is_continued_from_its_partial_text(emulators, pool):
    dying, healthy = await _pair(emulators, pool, "--die-after-tokens", "6")
    prompt = "Tell me about prefix caches."
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 60, "seed": 4, "stream": True}
    frames = await _stream(
        {**body, "stream_options": {"include_usage": True}}, endpoint="completions"
    )
    text = frames_text(frames)
    # The dying worker sent six tokens, one frame each: the start of the uninterrupted answer.
    partial = "".join(f["choices"][0]["text"] for f in frames[:6])
    uninterrupted = direct(healthy, "completions", {**body, "stream": False})
    assert uninterrupted["choices"][0]["text"].startswith(partial)
    # The rest is what a worker writes after the prompt with the partial text appended, in
    # the tokens that were left.
    rest = direct(healthy, "completions", {"prompt": prompt + partial, "max_tokens": 54, "seed": 4})
    assert text == partial + rest["choices"][0]["text"]
    assert len({(f["id"], f["created"], f["model"]) for f in frames}) == 1
    usage = frames[-1]["usage"]
    assert usage["prompt_tokens"] == uninterrupted["usage"]["prompt_tokens"]
    assert usage["completion_tokens"] == 6 + rest["usage"]["completion_tokens"]
    assert (await emulator_state(dying))["failed"] == 1


async def test_a_stream_that_goes_quiet_is_continued_after_the_idle_timeout(
    emulators, pool, settings
):
    settings.AIPORTAL_IDLE_TIMEOUT = 0.5
    stalled, healthy = await _pair(emulators, pool, "--stall-after-tokens", "5")
    frames = await _stream(_chat_body(max_tokens=400))
    expected = direct_chat(healthy, seed=11)["choices"][0]["message"]["content"]
    assert frames_text(frames) == expected
    state = await state_wait(stalled, lambda s: s["aborted"] == 1)
    assert state["aborted"] == 1  # the stalled request was closed, so vLLM freed its slot


async def test_an_error_frame_mid_answer_is_continued_too(emulators, pool):
    _, healthy = await _pair(emulators, pool, "--error-after-tokens", "9")
    frames = await _stream(_chat_body(max_tokens=400))
    assert frames_text(frames) == direct_chat(healthy, seed=11)["choices"][0]["message"]["content"]


async def test_max_tokens_counts_what_the_first_worker_already_generated(emulators, pool):
    await _pair(emulators, pool, "--die-after-tokens", "10")
    body = _chat_body(max_tokens=25, stream_options={"include_usage": True})
    frames = await _stream(body)
    assert frames[-1]["usage"]["completion_tokens"] == 25
    assert [f for f in frames if f["choices"]][-1]["choices"][0]["finish_reason"] == "length"


async def test_without_another_worker_the_partial_answer_ends_in_an_error(emulators, pool):
    url = emulators("--die-after-tokens", "5", region="home")
    pool(f"{url}@home")
    received = []
    with pytest.raises(UpstreamFailed) as caught:
        stream = completion_stream(endpoint="chat/completions", body=_chat_body(), caller=HOME)
        async with contextlib.aclosing(stream):
            async for frame in stream:
                received.append(frame)
    assert caught.value.partial is True
    assert frames_text(received)


async def test_continuations_are_bounded(emulators, pool):
    urls = emulators.many(*[("r", "--die-after-tokens", "3")] * 4)
    pool(*(f"{url}@r" for url in urls))
    await snapshot_ready(*urls)
    with pytest.raises(UpstreamFailed, match="too many times"):
        await _stream(_chat_body(max_tokens=400), caller=Caller())
    failed = [(await emulator_state(url))["failed"] for url in urls]
    assert sum(failed) == 3  # the first part and two continuations


async def test_the_request_deadline_ends_a_slow_answer(emulators, pool, settings):
    settings.AIPORTAL_REQUEST_DEADLINE = 0.6
    url = emulators("--tokens-per-second", "20", region="home")
    pool(f"{url}@home")
    await snapshot_ready(url)
    received = []
    with pytest.raises(DeadlineExceeded) as caught:
        stream = completion_stream(
            endpoint="chat/completions", body=_chat_body(max_tokens=400), caller=HOME
        )
        async with contextlib.aclosing(stream):
            async for frame in stream:
                received.append(frame)
    assert caught.value.status == 504
    assert 2 < len(received) < 20
    state = await state_wait(url, lambda s: s["aborted"] == 1)
    assert state["aborted"] == 1


async def test_a_draining_worker_finishes_its_stream_and_gets_nothing_new(
    emulators, pool, transactional_db
):
    from asgiref.sync import sync_to_async

    from gateway.models import Worker
    from gateway.telemetry.snapshot import snapshot_wait

    draining, other = emulators.many(("home", "--tokens-per-second", "40"), ("away",))
    pool(f"{draining}@home", f"{other}@away")
    await snapshot_ready(draining, other)
    stream = completion_stream(
        endpoint="chat/completions", body=_chat_body(max_tokens=60), caller=HOME
    )
    frames = []
    async with contextlib.aclosing(stream):
        frames.append(await anext(stream))
        await sync_to_async(Worker.objects.create)(base_url=draining, region="home", draining=True)
        views = await snapshot_wait(after=time.time())
        while not next(v for v in views if v.url == draining).spec.draining:
            views = await snapshot_wait(after=time.time())
        # A new request goes elsewhere, even though the caller's home is the draining one…
        other_frames = await _stream(_chat_body(max_tokens=5))
        assert frames_text(other_frames)
        assert (await emulator_state(other))["completed"] == 1
        # …while the running stream goes on to its natural end.
        frames += [frame async for frame in stream]
    assert [f for f in frames if f["choices"]][-1]["choices"][0]["finish_reason"] == "length"
    assert (await emulator_state(draining))["completed"] == 1
