"""The emulator speaks vLLM's OpenAI-compatible wire format, frame by frame: here the 0.10
shapes (``--vllm-version 0.10``); vLLM 0.34's, the default, are checked against fixtures by
test_fidelity.py and test_vllm_034.py."""

from __future__ import annotations

import json

import httpx
import pytest

from .helpers import MODEL, QUESTION, chat_body, read_stream

STREAMED_KEYS = {"id", "object", "created", "model", "choices"}


@pytest.fixture
async def url(start_emulator) -> str:
    return await start_emulator(vllm_version="0.10")


async def test_a_chat_stream_is_role_chunk_content_finish_usage_then_done(client, url):
    stream = await read_stream(
        client, url, chat_body(stream=True, max_tokens=12, stream_options={"include_usage": True})
    )

    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.broken is None
    assert stream.frames[-1] == "[DONE]"
    objects = stream.objects
    assert len(objects) == len(stream.frames) - 1
    ids = {obj["id"] for obj in objects}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for obj in objects:
        assert obj["object"] == "chat.completion.chunk"
        assert obj["model"] == MODEL
        assert isinstance(obj["created"], int)

    first, *middle, finish, usage = objects
    assert set(first) == STREAMED_KEYS
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    for obj in middle:
        assert set(obj) == STREAMED_KEYS  # no "usage": None on content chunks
        (choice,) = obj["choices"]
        assert set(choice) == {"index", "delta", "logprobs", "finish_reason"}
        assert set(choice["delta"]) == {"content"} and choice["delta"]["content"]
        assert choice["finish_reason"] is None
    (finish_choice,) = finish["choices"]
    assert finish_choice["finish_reason"] == "length"
    assert finish_choice["stop_reason"] is None
    assert finish_choice["delta"]["content"]  # the 12th token's text rides on the finish chunk

    assert usage["choices"] == []
    assert usage["id"] == first["id"]
    prompt_tokens = usage["usage"]["prompt_tokens"]
    assert prompt_tokens > len(QUESTION.split())
    assert usage["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 12,
        "total_tokens": prompt_tokens + 12,
    }
    assert len(middle) + 1 == 12  # one chunk per token


async def test_a_natural_end_is_an_empty_eos_chunk_with_stop_and_no_usage_unless_asked(client, url):
    stream = await read_stream(client, url, chat_body(stream=True))

    assert stream.done
    last = stream.objects[-1]
    assert "usage" not in last
    assert last["choices"][0]["delta"] == {"content": ""}
    assert last["choices"][0]["finish_reason"] == "stop"
    assert all(obj["choices"] for obj in stream.objects)


async def test_a_non_streaming_chat_answer_has_vllm_shape_and_the_streamed_text(client, url):
    body = chat_body(seed=11)
    response = await client.post(url + "/v1/chat/completions", json=body)
    streamed = await read_stream(
        client, url, {**body, "stream": True, "stream_options": {"include_usage": True}}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["model"] == MODEL
    (choice,) = data["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "stop"
    assert choice["stop_reason"] is None
    content = choice["message"]["content"]
    assert content == streamed.text
    assert "aiportal vLLM emulator" in content
    assert "**prefix cache**" in content  # the question's subject, restated
    usage = data["usage"]
    assert usage["completion_tokens"] == streamed.objects[-1]["usage"]["completion_tokens"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_completions_stream_and_answer_as_text_completion(client, url):
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 7, "seed": 3}
    response = await client.post(url + "/v1/completions", json=body)
    stream = await read_stream(
        client,
        url,
        {**body, "stream": True, "stream_options": {"include_usage": True}},
        path="/v1/completions",
    )

    data = response.json()
    assert data["object"] == "text_completion"
    assert data["id"].startswith("cmpl-")
    (choice,) = data["choices"]
    assert choice["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 7
    assert stream.done
    *chunks, usage = stream.objects
    assert all(c["object"] == "text_completion" for c in stream.objects)
    assert all("delta" not in c["choices"][0] for c in chunks)  # no role chunk, no deltas
    assert len(chunks) == 7
    assert all(set(c["choices"][0]) >= {"text", "finish_reason", "stop_reason"} for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks) == choice["text"]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 7


async def test_an_unknown_model_is_a_404_error_object(client, url):
    response = await client.post(url + "/v1/chat/completions", json=chat_body(model="nope"))

    assert response.status_code == 404
    assert response.json() == {
        "object": "error",
        "message": "The model `nope` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }


async def test_malformed_json_is_a_400_error_object(client, url):
    response = await client.post(
        url + "/v1/chat/completions",
        content=b'{"model": "aiportal-emulator", "messages": [',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    body = response.json()
    assert body["object"] == "error"
    assert body["type"] == "BadRequestError"
    assert body["code"] == 400
    assert body["param"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"model": MODEL},
        {"model": MODEL, "messages": []},
        chat_body(max_tokens=0),
        chat_body(stream_options={"include_usage": True}),
        chat_body(stop=[1, 2]),
        chat_body(continue_final_message=True, add_generation_prompt=True),
        chat_body(max_tokens=9000),
    ],
    ids=["no-messages", "empty", "max-0", "options-without-stream", "stop-ints", "both", "ctx"],
)
async def test_invalid_requests_are_400_before_any_stream(client, url, body):
    response = await client.post(url + "/v1/chat/completions", json={**body, "stream": False})

    assert response.status_code == 400
    assert response.json()["code"] == 400


async def test_the_nested_error_format_wraps_the_error(client, start_emulator):
    url = await start_emulator(error_format="nested")

    response = await client.post(url + "/v1/chat/completions", json=chat_body(model="x"))

    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["type"] == "NotFoundError"


async def test_models_lists_every_served_name_like_vllm(client, start_emulator):
    url = await start_emulator(models=("big", "big-alias"), max_model_len=4096)

    data = (await client.get(url + "/v1/models")).json()

    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["big", "big-alias"]
    for card in data["data"]:
        assert card["object"] == "model"
        assert card["owned_by"] == "vllm"
        assert card["root"] == card["id"]
        assert card["max_model_len"] == 4096
        assert isinstance(card["created"], int)
    answer = await client.post(url + "/v1/chat/completions", json=chat_body(model="big-alias"))
    assert answer.json()["model"] == "big-alias"
    unnamed = {"messages": [{"role": "user", "content": "hi"}]}
    default = await client.post(url + "/v1/chat/completions", json=unnamed)
    assert default.json()["model"] == "big"


async def test_health_is_an_empty_200_and_every_response_names_the_region(client, start_emulator):
    url = await start_emulator(region="eu-west")

    health = await client.get(url + "/health")
    stream = await read_stream(client, url, chat_body(stream=True, max_tokens=2))

    assert health.status_code == 200
    assert health.content == b""
    assert health.headers["x-aiportal-region"] == "eu-west"
    assert stream.headers["x-aiportal-region"] == "eu-west"


async def test_without_a_region_there_is_no_region_header(client, url):
    assert "x-aiportal-region" not in (await client.get(url + "/health")).headers


async def test_unknown_routes_answer_like_fastapi(client, url):
    response = await client.get(url + "/v1/nothing")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_the_orca_header_comes_in_vllms_text_and_json_formats_on_json_answers(client, url):
    text = await client.post(
        url + "/v1/chat/completions",
        json=chat_body(max_tokens=2),
        headers={"endpoint-load-metrics-format": "text"},
    )
    as_json = await client.post(
        url + "/v1/completions",
        json={"prompt": "hi", "max_tokens": 2},
        headers={"endpoint-load-metrics-format": "json"},
    )
    streamed = await read_stream(
        client,
        url,
        chat_body(stream=True, max_tokens=2),
        headers={"endpoint-load-metrics-format": "text"},
    )
    plain = await client.post(url + "/v1/chat/completions", json=chat_body(max_tokens=2))

    header = text.headers["endpoint-load-metrics"]
    assert header.startswith("TEXT ")
    pairs = dict(item.split("=") for item in header.removeprefix("TEXT ").split(", "))
    assert set(pairs) == {"named_metrics.kv_cache_usage_perc", "named_metrics.num_requests_waiting"}
    assert float(pairs["named_metrics.num_requests_waiting"]) == 0.0
    kind, payload = as_json.headers["endpoint-load-metrics"].split(" ", 1)
    assert kind == "JSON"
    assert set(json.loads(payload)["named_metrics"]) == {
        "kv_cache_usage_perc",
        "num_requests_waiting",
    }
    # vLLM attaches the report to non-streaming answers only.
    assert "endpoint-load-metrics" not in streamed.headers
    assert "endpoint-load-metrics" not in plain.headers


async def test_an_http_error_does_not_leak_a_request(client, url):
    with pytest.raises(httpx.HTTPStatusError):
        (await client.post(url + "/v1/completions", json={"prompt": ""})).raise_for_status()
    state = (await client.get(url + "/emulator/state")).json()
    assert state["started"] == 0 and state["running"] == 0
