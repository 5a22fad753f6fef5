"""What the /v1 validation forwards to a worker, and how gateway errors become API errors.
Pure functions: no server, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from gateway.api import validation
from gateway.api.errors import ApiError, from_gateway_error
from gateway.errors import GatewayError, OverBudget, RateLimited, UpstreamRejected

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def caps(settings):
    settings.AIPORTAL_MAX_TOKENS = 100
    settings.AIPORTAL_API_MAX_N = 2
    settings.AIPORTAL_API_MAX_MESSAGES = 3
    settings.AIPORTAL_API_MAX_TOOLS_BYTES = 200
    settings.AIPORTAL_API_MAX_BODY_BYTES = 2048


def refused(call, *args) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args)
    return caught.value


def test_the_forwarded_body_holds_only_reviewed_fields():
    body = validation.chat_body(
        {
            "model": "m",
            "messages": MESSAGES,
            "temperature": 0.2,
            "top_k": 5,
            "seed": 1,
            "user": "end-user-7",
            "metadata": {"callback": "http://169.254.169.254/"},
            "store": True,
        }
    )
    assert body == {
        "model": "m",
        "messages": MESSAGES,
        "temperature": 0.2,
        "top_k": 5,
        "seed": 1,
        "max_tokens": 100,  # always set: no request runs to the context length
    }


@pytest.mark.parametrize("asked, sent", [(None, 100), (10, 10), (100, 100), (5000, 100)])
def test_max_tokens_is_clamped_to_the_cap(asked, sent):
    body = {"model": "m", "messages": MESSAGES}
    if asked is not None:
        body["max_tokens"] = asked
    assert validation.chat_body(body)["max_tokens"] == sent


def test_max_completion_tokens_wins_and_is_sent_as_max_tokens():
    body = validation.chat_body(
        {"model": "m", "messages": MESSAGES, "max_tokens": 50, "max_completion_tokens": 7}
    )
    assert body["max_tokens"] == 7
    assert "max_completion_tokens" not in body


@pytest.mark.parametrize("field", sorted(validation.REFUSED))
def test_every_steering_field_is_refused_on_every_endpoint(field):
    for check, body in (
        (validation.chat_body, {"model": "m", "messages": MESSAGES}),
        (validation.completion_body, {"model": "m", "prompt": "p"}),
        (validation.embedding_body, {"model": "m", "input": "p"}),
    ):
        error = refused(check, {**body, field: "x"})
        assert (error.status, error.code, error.param) == (400, "unsupported_parameter", field)


def test_fields_of_another_endpoint_are_unknown():
    error = refused(validation.embedding_body, {"model": "m", "input": "x", "temperature": 1})
    assert error.code == "unknown_parameter" and error.param == "temperature"
    error = refused(validation.completion_body, {"model": "m", "prompt": "x", "tools": []})
    assert error.param == "tools"


def test_the_caps():
    chat = {"model": "m", "messages": MESSAGES}
    assert refused(validation.chat_body, {**chat, "n": 3}).param == "n"
    assert validation.chat_body({**chat, "n": 2})["n"] == 2
    assert refused(validation.chat_body, {**chat, "messages": MESSAGES * 4}).param == "messages"
    assert validation.chat_body({**chat, "messages": MESSAGES * 3})
    tools = [{"type": "function", "function": {"name": "x" * 200}}]
    assert refused(validation.chat_body, {**chat, "tools": tools}).code == "limit_exceeded"
    functions = [{"name": "y" * 120}]
    small = [{"type": "function", "function": {"name": "x" * 60}}]
    # Tools and legacy functions count together.
    assert refused(validation.chat_body, {**chat, "tools": small, "functions": functions})
    assert refused(validation.completion_body, {"model": "m", "prompt": ["a"] * 4}).param == (
        "prompt"
    )
    assert refused(validation.completion_body, {"model": "m", "prompt": "a", "best_of": 3})
    assert refused(validation.embedding_body, {"model": "m", "input": ["a"] * 4}).param == "input"


@pytest.mark.parametrize("prompt", ["text", ["a", "b"], [1, 2, 3], [[1, 2], [3]], ["a", [1, 2]]])
def test_prompt_forms_openai_allows_are_accepted(prompt):
    assert validation.completion_body({"model": "m", "prompt": prompt})["prompt"] == prompt


@pytest.mark.parametrize("prompt", [None, [], 3, [True], [{"a": 1}], [[]]])
def test_other_prompts_are_refused(prompt):
    assert refused(validation.completion_body, {"model": "m", "prompt": prompt}).param == "prompt"


def test_embedding_options_are_checked():
    base = {"model": "m", "input": "x"}
    assert validation.embedding_body({**base, "encoding_format": "base64", "dimensions": 8})
    assert refused(validation.embedding_body, {**base, "encoding_format": "hex"})
    assert refused(validation.embedding_body, {**base, "dimensions": 0})
    assert refused(validation.embedding_body, {"input": "x"}).param == "model"


def test_the_body_is_measured_declared_or_not():
    factory = RequestFactory()
    big = factory.post("/v1/x", data=b"{}" + b" " * 3000, content_type="application/json")
    assert refused(validation.request_json, big).status == 413
    chunked = factory.post("/v1/x", data=b"{}" + b" " * 3000, content_type="application/json")
    del chunked.META["CONTENT_LENGTH"]
    assert refused(validation.request_json, chunked).status == 413
    fine = factory.post("/v1/x", data=b'{"a": 1}', content_type="application/json")
    assert validation.request_json(fine) == {"a": 1}


def test_gateway_errors_keep_their_status_and_code_and_say_when_to_retry():
    limited = from_gateway_error(RateLimited(2.2))
    assert (limited.status, limited.code, limited.headers) == (
        429,
        "rate_limited",
        # Whole seconds for every client, milliseconds for the OpenAI SDK, which reads them first.
        {"Retry-After": "3", "retry-after-ms": "2200"},
    )
    assert limited.body()["error"]["type"] == "rate_limit_error"

    resets = timezone.now() + timedelta(hours=2)
    budget = from_gateway_error(OverBudget(resets))
    assert budget.status == 429 and budget.code == "over_budget"
    assert 7190 <= int(budget.headers["Retry-After"]) <= 7201

    rejected = from_gateway_error(UpstreamRejected("too long", status=400))
    assert (rejected.status, rejected.message) == (400, "too long")
    assert rejected.body()["error"]["type"] == "invalid_request_error"

    down = from_gateway_error(GatewayError("no_workers", "none", retryable=False, status=503))
    assert down.status == 503 and down.body()["error"]["type"] == "server_error"
    assert down.headers == {}


def test_a_conversation_keeps_its_routing_key_turn_after_turn():
    from gateway.api.upstream import conversation_key

    system = {"role": "system", "content": "You are terse."}
    first = [system, {"role": "user", "content": "What is KV cache?"}]
    later = [*first, {"role": "assistant", "content": "…"}, {"role": "user", "content": "More"}]
    other = [system, {"role": "user", "content": "Something else"}]
    assert conversation_key({"messages": first}) == conversation_key({"messages": later})
    assert conversation_key({"messages": first}) != conversation_key({"messages": other})
    assert conversation_key({"prompt": "p"}) is None
    bare = [{"role": "user", "content": "Hi"}]
    bare_later = [
        *bare,
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "?"},
    ]
    assert conversation_key({"messages": bare}) == conversation_key({"messages": bare_later})
