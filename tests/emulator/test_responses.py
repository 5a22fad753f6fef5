"""POST /v1/responses as vLLM 0.34 serves it (gateway/emulator/responses.py): the response
object, the streamed events and their order, the store left off, the length rules, faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gateway.emulator.faults import FaultSpec
from tests.emulator.helpers import MODEL, QUESTION, state

RESPONSE_KEYS = [
    "id", "created_at", "incomplete_details", "instructions", "metadata", "model", "object",
    "output", "parallel_tool_calls", "temperature", "tool_choice", "tools", "top_p",
    "background", "max_output_tokens", "max_tool_calls", "previous_response_id", "prompt",
    "prompt_cache_options", "prompt_cache_key", "prompt_cache_retention", "reasoning",
    "safety_identifier", "service_tier", "status", "text", "top_logprobs", "truncation",
    "usage", "user", "presence_penalty", "frequency_penalty", "kv_transfer_params",
    "ec_transfer_params", "input_messages", "output_messages",
]  # fmt: skip


def body(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "input": QUESTION, "seed": 3, **extra}


async def events(client: httpx.AsyncClient, url: str, payload: dict) -> tuple[list, Exception]:
    """Each event as (its ``event:`` name, its data), and how the body ended (None: whole)."""
    out, broken, buffer = [], None, b""
    async with client.stream("POST", url + "/v1/responses", json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        try:
            async for data in response.aiter_raw():
                buffer += data
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    name, data_line = block.decode().split("\n")
                    out.append((name.removeprefix("event: "), json.loads(data_line[6:])))
        except httpx.RemoteProtocolError as exc:
            broken = exc
    assert buffer == b"" or broken
    return out, broken


async def test_a_whole_response_has_vllms_fields_and_usage(client, url):
    response = await client.post(url + "/v1/responses", json=body(instructions="Be brief."))
    assert response.status_code == 200
    answer = response.json()
    assert list(answer) == RESPONSE_KEYS
    assert answer["id"].startswith("resp_") and answer["object"] == "response"
    assert answer["status"] == "completed" and answer["incomplete_details"] is None
    assert answer["instructions"] == "Be brief."
    assert (answer["tool_choice"], answer["tools"], answer["truncation"]) == (
        "none",
        [],
        "disabled",
    )
    (item,) = answer["output"]
    assert item["id"].startswith("msg_")
    assert (item["type"], item["role"], item["status"]) == ("message", "assistant", "completed")
    (part,) = item["content"]
    assert part == {
        "annotations": [],
        "text": part["text"],
        "type": "output_text",
        "logprobs": None,
    }
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert set(usage["input_tokens_details"]) == {
        "cached_tokens", "cache_write_tokens", "input_tokens_per_turn", "cached_tokens_per_turn",
    }  # fmt: skip
    # The instructions are a system message in front of the question: more input tokens.
    bare = (await client.post(url + "/v1/responses", json=body())).json()
    assert usage["input_tokens"] > bare["usage"]["input_tokens"]


async def test_a_stream_is_vllms_event_sequence_without_done(client, url):
    whole = (await client.post(url + "/v1/responses", json=body())).json()
    got, broken = await events(client, url, body(stream=True))
    assert broken is None
    assert all(name == data["type"] for name, data in got)
    kinds = [name for name, _ in got]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    datas = [data for _, data in got]
    assert [data["sequence_number"] for data in datas] == list(range(len(datas)))
    created = datas[0]["response"]
    assert list(created) == RESPONSE_KEYS
    assert (created["status"], created["output"], created["usage"]) == ("in_progress", [], None)
    text = "".join(data["delta"] for data in datas if "delta" in data)
    assert text == whole["output"][0]["content"][0]["text"]
    final = datas[-1]["response"]
    assert final["id"] == created["id"] and final["status"] == "completed"
    assert final["output"] == [datas[-2]["item"]]
    assert final["usage"]["output_tokens"] == whole["usage"]["output_tokens"]


async def test_max_output_tokens_ends_the_answer_incomplete(client, url):
    answer = (await client.post(url + "/v1/responses", json=body(max_output_tokens=5))).json()
    assert answer["status"] == "incomplete"
    assert answer["incomplete_details"] == {"reason": "max_output_tokens"}
    assert answer["output"][0]["status"] == "incomplete"
    assert answer["usage"]["output_tokens"] == 5
    got, _ = await events(client, url, body(stream=True, max_output_tokens=5))
    assert got[-1][0] == "response.incomplete"


async def test_several_tokens_per_delta_with_stream_interval(client, start_emulator):
    url = await start_emulator(stream_interval=4)
    got, _ = await events(client, url, body(stream=True, max_output_tokens=13))
    deltas = [data["delta"] for name, data in got if name == "response.output_text.delta"]
    # The first token at once, then one delta per 4 tokens, the rest with the end.
    assert len(deltas) == 4


async def test_the_store_is_off_as_in_vllms_default(client, url):
    missing = await client.post(url + "/v1/responses", json=body(previous_response_id="resp_x"))
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "Response with id 'resp_x' not found.",
            "type": "invalid_request_error",
            "param": "response_id",
            "code": 404,
        }
    }
    background = await client.post(url + "/v1/responses", json=body(background=True))
    assert background.status_code == 400
    assert background.json()["error"]["param"] == "background"
    # store=true (the default) is quietly not kept: the next request cannot refer to it.
    stored = (await client.post(url + "/v1/responses", json=body(store=True))).json()
    again = await client.post(url + "/v1/responses", json=body(previous_response_id=stored["id"]))
    assert again.status_code == 404


async def test_a_prompt_that_fills_the_context_is_a_400_and_a_long_answer_is_clamped(
    client, start_emulator
):
    url = await start_emulator(max_model_len=200)
    long = await client.post(url + "/v1/responses", json=body(input="word " * 300))
    assert long.status_code == 400
    error = long.json()["error"]
    assert (error["param"], error["type"]) == ("input", "invalid_request_error")
    assert "max_model_len 200" in error["message"]
    clamped = await client.post(url + "/v1/responses", json=body(max_output_tokens=5000))
    assert clamped.status_code == 200
    answer = clamped.json()
    assert answer["max_output_tokens"] == 200 - answer["usage"]["input_tokens"]


async def test_input_items_and_a_partial_assistant_message_to_continue(client, url):
    whole = (await client.post(url + "/v1/responses", json=body())).json()
    text = whole["output"][0]["content"][0]["text"]
    partial = text[: len(text) // 2].rstrip()
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
        {
            "type": "message",
            "role": "assistant",
            "status": "incomplete",
            "content": [{"type": "output_text", "text": partial}],
        },
    ]
    continued = (await client.post(url + "/v1/responses", json=body(input=items))).json()
    rest = continued["output"][0]["content"][0]["text"]
    assert partial + rest == text
    bad = await client.post(url + "/v1/responses", json=body(input=[{"type": "item_reference"}]))
    assert bad.status_code == 400


async def test_the_request_id_header_is_echoed_not_the_responses_id(client, url):
    response = await client.post(
        url + "/v1/responses", json=body(max_output_tokens=2), headers={"X-Request-Id": "abc"}
    )
    assert response.headers["X-Request-Id"] == "abc"
    assert response.json()["id"] != "resp_abc"
    assert "abc" in (await state(client, url))["request_ids"]


@pytest.mark.parametrize("fault", ["fail_before_first_token", "error_after_tokens"])
async def test_an_engine_error_breaks_the_stream_after_created(client, start_emulator, fault):
    spec = FaultSpec(**{fault: True if fault == "fail_before_first_token" else 3})
    url = await start_emulator(faults=spec)
    got, broken = await events(client, url, body(stream=True))
    assert broken is not None
    kinds = [name for name, _ in got]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.completed" not in kinds
    assert ("response.output_text.delta" in kinds) == (fault == "error_after_tokens")


async def test_an_engine_error_without_a_stream_is_a_500(client, start_emulator):
    url = await start_emulator(faults=FaultSpec(fail_before_first_token=True))
    response = await client.post(url + "/v1/responses", json=body())
    assert response.status_code == 500
    assert response.json()["error"] == {
        "message": "Internal server error",
        "type": "InternalServerError",
        "param": None,
        "code": 500,
    }


async def test_an_engine_abort_ends_the_answer_as_completed(client, start_emulator):
    url = await start_emulator(faults=FaultSpec(abort_after_tokens=3))
    got, broken = await events(client, url, body(stream=True))
    assert broken is None
    assert got[-1][0] == "response.completed"
    assert got[-1][1]["response"]["usage"]["output_tokens"] == 3
