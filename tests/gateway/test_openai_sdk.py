"""The official ``openai`` SDK, unchanged, as a client of the /v1 API on a real Daphne."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from gateway.emulator.embeddings import embedding_vector
from gateway.models import UsageRecord
from tests.gateway.api_support import (
    DYING,
    FAST,
    SLOW,
    fast_passwords,
    key_for,
    usage_settled,
)

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
HELLO = [{"role": "user", "content": "Tell me about prefix caches."}]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


@pytest.fixture
def client(api, owner) -> OpenAI:
    # max_retries=0: a 429 or 5xx must surface as the SDK's exception, not be retried.
    return OpenAI(base_url=api.v1, api_key=key_for(owner), max_retries=0, timeout=20)


def test_a_chat_completion(client, owner):
    answer = client.chat.completions.create(model=FAST, messages=HELLO, max_tokens=12, seed=3)
    assert answer.object == "chat.completion"
    assert answer.model == FAST
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 12
    (record,) = usage_settled(owner, 1)
    assert record.prompt_tokens == answer.usage.prompt_tokens


def test_a_streamed_chat_completion_is_the_same_answer(client, owner):
    whole = client.chat.completions.create(model=FAST, messages=HELLO, max_tokens=30, seed=5)
    stream = client.chat.completions.create(
        model=FAST,
        messages=HELLO,
        max_tokens=30,
        seed=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == "length"
    assert usage.completion_tokens == 30
    assert usage.prompt_tokens == whole.usage.prompt_tokens
    records = usage_settled(owner, 2)
    assert [r.outcome for r in records] == [UsageRecord.Outcome.COMPLETE] * 2


def test_text_completions_streamed_and_not(client, owner):
    answer = client.completions.create(model=FAST, prompt="Once upon a time", max_tokens=8)
    assert answer.object == "text_completion"
    assert answer.choices[0].text
    streamed = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(
            model=FAST, prompt="Once upon a time", max_tokens=8, stream=True
        )
        if chunk.choices
    )
    assert streamed == answer.choices[0].text
    usage_settled(owner, 2)


def test_models_are_listed_and_retrieved(client):
    names = {model.id for model in client.models.list()}
    assert {FAST, SLOW, DYING} <= names
    assert client.models.retrieve(FAST).id == FAST


def test_embeddings_in_the_sdks_default_base64_and_as_floats(client, owner):
    packed = client.embeddings.create(model=FAST, input=["alpha", "beta"])
    floats = client.embeddings.create(model=FAST, input="alpha", encoding_format="float")
    assert [item.index for item in packed.data] == [0, 1]
    expected = embedding_vector(FAST, "alpha", 384)
    assert floats.data[0].embedding == expected
    assert packed.data[0].embedding == pytest.approx(expected, abs=1e-6)
    assert packed.usage.prompt_tokens == 2
    records = usage_settled(owner, 2)
    assert {(r.prompt_tokens, r.completion_tokens) for r in records} == {(2, 0), (1, 0)}


def test_a_bad_key_is_an_authentication_error(api, owner):
    for token in ("aip_0123456789ab_" + "x" * 40, "sk-not-ours"):
        bad = OpenAI(base_url=api.v1, api_key=token, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            bad.models.list()
        assert caught.value.status_code == 401
        assert caught.value.code == "invalid_api_key"


def test_an_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-imaginary", messages=HELLO)
    assert caught.value.code == "model_not_found"


def test_requests_too_long_are_bad_requests(client, owner):
    # Longer than the worker's context (1024 tokens): the worker's own 400, passed on.
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=FAST, messages=[{"role": "user", "content": "a " * 1100}], max_tokens=5
        )
    assert "context length" in caught.value.message
    # More messages than the gateway accepts: refused before any worker sees it.
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=FAST, messages=HELLO * 9)
    assert caught.value.param == "messages"
    usage_settled(owner, 1)  # the first reached a worker, the second did not


def test_a_request_over_the_stream_limit_is_a_rate_limit_error(client, api, owner):
    first = client.chat.completions.create(model=SLOW, messages=HELLO, max_tokens=40, stream=True)
    try:
        next(iter(first))
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model=FAST, messages=HELLO, max_tokens=2)
    finally:
        first.close()
    retry_after = caught.value.response.headers["retry-after"]
    assert int(retry_after) >= 1
    usage_settled(owner, 2)


def test_a_stream_that_breaks_midway_raises_in_the_sdk(client, owner):
    received = []
    stream = client.chat.completions.create(model=DYING, messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.extend(choice.delta.content or "" for choice in chunk.choices)
    assert "".join(received)  # part of the answer arrived before the error
    assert caught.value.body["code"]
    usage_settled(owner, 1)


def test_the_sdk_sees_openais_error_shape_for_caps(client, api, owner):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=FAST, messages=HELLO, extra_body={"api_base": "http://evil.example"}
        )
    assert caught.value.code == "unsupported_parameter"
    assert caught.value.param == "api_base"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=FAST, messages=HELLO, n=5)
    raw = httpx.get(f"{api.v1}/models")  # no key
    assert raw.status_code == 401
    assert UsageRecord.objects.filter(user=owner).count() == 0


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_tool_calls_through_the_gateway_and_the_answer_from_the_result(client):
    # The emulator answers with vLLM's tool calls (docs/emulator.md, Tool calls): the gateway
    # relays them as they are, streaming and not, and the follow-up uses the tool's result.
    ask = [{"role": "user", "content": "What's the weather in Lisbon right now?"}]

    whole = client.chat.completions.create(model=FAST, messages=ask, tools=[WEATHER_TOOL])
    stream = client.chat.completions.create(
        model=FAST, messages=ask, tools=[WEATHER_TOOL], stream=True
    )
    names, arguments, finish = [], "", None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.name:
                    names.append(call.function.name)
                if call.function and call.function.arguments:
                    arguments += call.function.arguments
            finish = choice.finish_reason or finish

    (call,) = whole.choices[0].message.tool_calls
    assert whole.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Lisbon"}'
    assert (names, arguments, finish) == (["get_weather"], call.function.arguments, "tool_calls")
    follow = client.chat.completions.create(
        model=FAST,
        tools=[WEATHER_TOOL],
        messages=[
            *ask,
            whole.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temperature_c": 19}'},
        ],
    )
    # An answer in text, from the result (this server caps answers at 64 tokens).
    assert not follow.choices[0].message.tool_calls
    assert "The tool's result gives **temperature_c** 19." in follow.choices[0].message.content
