"""A client that leaves aborts its request; injected faults fail the way real workers do."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from gateway.emulator import FaultSpec, LatencyModel

from .helpers import LABELS, chat_body, read_stream, scrape, state, success_key, wait_for_state

SLOW = LatencyModel(ttft_ms=1, tokens_per_second=40, concurrency_slowdown=0)


async def set_faults(client, url, **spec) -> dict:
    response = await client.post(url + "/emulator/faults", json=spec)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_client_that_disconnects_aborts_its_request_at_once(client, start_emulator):
    url = await start_emulator(latency=SLOW)

    body = chat_body(stream=True)
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if '"content":"' in line and '"role"' not in line:
                break  # got the first token; leave without reading the rest
    left_at = time.monotonic()
    after = await wait_for_state(client, url, lambda s: s["aborted"] == 1, timeout=1)
    await asyncio.sleep(0.1)  # a request that kept generating would add tokens meanwhile
    samples = await scrape(client, url)

    assert time.monotonic() - left_at < 0.5
    assert (after["running"], after["completed"]) == (0, 0)
    # vLLM 0.34 keeps a request its client abandoned out of the finished requests' counts.
    assert samples[success_key("abort")] == 0
    assert samples[f"vllm:generation_tokens_total{{{LABELS}}}"] <= 4
    assert samples[f"vllm:num_requests_running{{{LABELS}}}"] == 0


async def test_a_client_that_leaves_the_queue_is_aborted_and_frees_its_place(
    client, start_emulator
):
    latency = LatencyModel(ttft_ms=1, tokens_per_second=100, max_concurrency=1)
    url = await start_emulator(latency=latency)
    running = asyncio.create_task(
        client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=60))
    )  # holds the only slot for ~0.6 s
    await wait_for_state(client, url, lambda s: s["running"] == 1)

    async with httpx.AsyncClient(timeout=10) as other:
        queued = asyncio.create_task(
            other.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))
        )
        await wait_for_state(client, url, lambda s: s["waiting"] == 1)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
    left = await wait_for_state(client, url, lambda s: s["aborted"] == 1, timeout=0.3)
    finished = await running

    # Seen while the slot was still taken: the queue itself noticed, not the slot freeing.
    assert (left["running"], left["waiting"]) == (1, 0)
    assert finished.status_code == 200
    assert (await state(client, url))["completed"] == 1


async def test_die_after_tokens_drops_the_connection_mid_stream_without_done(client, url):
    await set_faults(client, url, die_after_tokens=3)

    stream = await read_stream(client, url, chat_body(stream=True))
    non_streamed_error = None
    try:
        await client.post(url + "/v1/chat/completions", json=chat_body())
    except httpx.HTTPError as exc:
        non_streamed_error = exc
    current = await state(client, url)

    assert isinstance(stream.broken, httpx.RemoteProtocolError)
    assert not stream.done
    assert "[DONE]" not in stream.frames
    assert len(stream.content_chunks) == 3
    assert stream.objects[0]["choices"][0]["delta"]["role"] == "assistant"
    assert isinstance(non_streamed_error, httpx.RemoteProtocolError)
    assert (current["failed"], current["running"]) == (2, 0)


async def test_a_dead_stream_continued_on_another_worker_gives_the_whole_answer(
    client, start_emulator
):
    """What the gateway does: keep the partial answer of a worker that died, and ask another
    worker to continue it (continue_final_message); the user must get one whole answer."""
    dying = await start_emulator(faults=FaultSpec(die_after_tokens=25))
    healthy = await start_emulator()
    body = chat_body(stream=True, seed=99)

    broken = await read_stream(client, dying, body)
    partial = broken.text
    rest = await read_stream(
        client,
        healthy,
        {
            **body,
            "messages": [*body["messages"], {"role": "assistant", "content": partial}],
            "continue_final_message": True,
            "add_generation_prompt": False,
        },
    )
    uninterrupted = await read_stream(client, healthy, body)

    assert broken.broken is not None and len(broken.content_chunks) == 25
    assert rest.done
    assert partial + rest.text == uninterrupted.text


async def test_a_fault_with_times_clears_itself(client, url):
    set_reply = await set_faults(client, url, status_503=True, times=2)

    statuses = [
        (await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))).status_code
        for _ in range(3)
    ]
    refused = await client.post(url + "/v1/chat/completions", json=chat_body())  # cleared now

    assert set_reply["faults"] == {"status_503": True, "times": 2, "remaining": 2}
    assert statuses == [503, 503, 200]
    assert refused.status_code == 200
    assert (await state(client, url))["faults"] == {}


async def test_status_503_and_500_refuse_before_any_stream_with_an_error_object(client, url):
    await set_faults(client, url, status_503=True)
    unavailable = await client.post(url + "/v1/chat/completions", json=chat_body(stream=True))
    await set_faults(client, url, status_500=True)
    broken = await client.post(url + "/v1/completions", json={"prompt": "x", "stream": True})
    cleared = await client.delete(url + "/emulator/faults")
    fine = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))

    assert unavailable.status_code == 503
    assert unavailable.json()["error"]["code"] == 503
    assert broken.status_code == 500
    assert broken.json()["error"]["type"] == "InternalServerError"
    assert cleared.json() == {"faults": {}}
    assert fine.status_code == 200


async def test_fail_before_first_token_is_an_error_frame_then_done_or_a_500(client, url):
    await set_faults(client, url, fail_before_first_token=True)

    stream = await read_stream(client, url, chat_body(stream=True))
    plain = await client.post(url + "/v1/chat/completions", json=chat_body())

    assert stream.status == 200
    assert len(stream.frames) == 2 and stream.frames[1] == "[DONE]"
    error = json.loads(stream.frames[0])
    assert set(error) == {"error"}
    assert error["error"]["type"] == "InternalServerError"
    assert error["error"]["code"] == 500
    assert error["error"]["message"]
    assert plain.status_code == 500
    assert plain.json()["error"]["type"] == "InternalServerError"
    assert (await state(client, url))["failed"] == 2


async def test_error_after_tokens_sends_an_error_frame_mid_stream_then_done(client, url):
    await set_faults(client, url, error_after_tokens=2)

    stream = await read_stream(client, url, chat_body(stream=True))

    assert stream.done and stream.broken is None
    assert len(stream.content_chunks) == 2
    assert "error" in json.loads(stream.frames[-2])


async def test_a_stall_stops_sending_for_a_while_then_resumes(client, url):
    await set_faults(client, url, stall_after_tokens=2, stall_seconds=0.3)

    stream = await read_stream(client, url, chat_body(stream=True, max_tokens=5))

    assert stream.done
    gaps = [b - a for a, b in zip(stream.times, stream.times[1:], strict=False)]
    # frames: role, token 1, token 2, <stall>, token 3, …
    assert gaps[2] >= 0.28
    assert max(gaps[:2] + gaps[3:]) < 0.1


async def test_a_stall_without_seconds_holds_the_connection_open_until_the_client_leaves(
    client, url
):
    await set_faults(client, url, stall_after_tokens=1)
    frames: list[str] = []
    during: dict = {}

    with pytest.raises(httpx.ReadTimeout):
        body = chat_body(stream=True)
        async with client.stream(
            "POST", url + "/v1/chat/completions", json=body, timeout=0.4
        ) as response:
            async for line in response.aiter_lines():
                if line:
                    frames.append(line)
                if len(frames) == 2 and not during:
                    during = await state(client, url)
    after = await wait_for_state(client, url, lambda s: s["aborted"] == 1, timeout=1)

    assert len(frames) == 2  # the role chunk and one token, then silence
    assert during["running"] == 1
    assert after["running"] == 0


async def test_unhealthy_health_answers_503_until_its_times_run_out(client, url):
    await set_faults(client, url, unhealthy=True, times=2)

    statuses = [(await client.get(url + "/health")).status_code for _ in range(3)]
    answered = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))

    assert statuses == [503, 503, 200]
    assert answered.status_code == 200  # an unhealthy report alone does not refuse work


@pytest.mark.parametrize(
    "spec",
    [{"die_after_tokens": -1}, {"bogus": 1}, {"status_503": "yes"}, {"stall_seconds": 3}, []],
)
async def test_a_bad_fault_spec_is_refused(client, url, spec):
    response = await client.post(url + "/emulator/faults", json=spec)

    assert response.status_code == 400
    assert (await state(client, url))["faults"] == {}


async def test_faults_can_be_set_from_the_config(client, start_emulator):
    url = await start_emulator(faults=FaultSpec(status_503=True, times=1))

    first = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))
    second = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=1))

    assert (first.status_code, second.status_code) == (503, 200)


async def test_state_reports_region_models_and_counters(client, start_emulator):
    url = await start_emulator(region="us-east", models=("m",))
    await client.post(url + "/v1/chat/completions", json={**chat_body(max_tokens=1), "model": "m"})

    current = await state(client, url)

    assert current["region"] == "us-east"
    assert current["models"] == ["m"]
    assert {k: current[k] for k in ("started", "running", "waiting", "completed", "aborted")} == {
        "started": 1,
        "running": 0,
        "waiting": 0,
        "completed": 1,
        "aborted": 0,
    }


async def test_abort_after_tokens_ends_the_stream_with_finish_reason_abort(client, url):
    # vLLM 0.34's engine-side abort: no new token, finish_reason "abort", then usage, [DONE].
    await set_faults(client, url, abort_after_tokens=4, times=1)
    body = chat_body(stream=True, stream_options={"include_usage": True})
    stream = await read_stream(client, url, body)
    whole = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=4))

    assert stream.done
    ending, usage = stream.objects[-2:]
    assert ending["choices"][0]["finish_reason"] == "abort"
    assert ending["choices"][0]["delta"] == {"content": ""}
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 4
    assert stream.text == whole.json()["choices"][0]["message"]["content"]


async def test_abort_after_tokens_ends_a_whole_answer_with_finish_reason_abort(client, url):
    await set_faults(client, url, abort_after_tokens=3)
    response = await client.post(url + "/v1/chat/completions", json=chat_body())

    assert response.json()["choices"][0]["finish_reason"] == "abort"
    assert response.json()["usage"]["completion_tokens"] == 3


async def test_a_full_queue_refuses_with_vllms_503(client, start_emulator):
    # vLLM 0.34's --max-num-queued-reqs: unfinished requests (running + waiting) are capped.
    url = await start_emulator(latency=SLOW, max_num_queued_reqs=1, error_format="nested")
    body = chat_body(stream=True)
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as first:
        await wait_for_state(client, url, lambda s: s["running"] == 1, timeout=2)
        second = await client.post(url + "/v1/chat/completions", json=chat_body())
        assert first.status_code == 200

    assert second.status_code == 503
    error = second.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("Service Unavailable", 503, None)
    assert error["message"].startswith("The engine is currently busy")


async def test_an_in_band_error_carries_its_status_as_vllms_frame_code(client, url):
    await set_faults(client, url, error_after_tokens=2, error_code=400)
    stream = await read_stream(client, url, chat_body(stream=True))
    assert stream.status == 200 and stream.done
    error = stream.objects[-1]["error"]
    assert (error["type"], error["code"]) == ("BadRequestError", 400)

    response = await client.post(url + "/emulator/faults", json={"error_code": 200})
    assert response.status_code == 400
