"""Small /v1 conformance gaps real clients found: spec-breaking nulls in non-streaming
answers, an encoded newline in a path, and ``null`` meaning "not set"."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from gateway.api import validation
from gateway.api.conform import reply_conformed
from tests.gateway.api_support import bearer, fast_passwords, key_for

MESSAGES = [{"role": "user", "content": "hi"}]


def _vllm_034_chat_answer() -> dict:
    """A non-streaming chat answer as vLLM 0.34 serialises one (its ChatCompletionResponse,
    ChatMessage and UsageInfo with their defaults)."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hi.",
                    "refusal": None,
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "reasoning": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": {
            "prompt_tokens": 3,
            "total_tokens": 5,
            "completion_tokens": 2,
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        },
        "prompt_logprobs": None,
    }


def test_a_non_streaming_answer_has_no_null_where_the_spec_wants_a_value():
    body = reply_conformed(_vllm_034_chat_answer())
    message = body["choices"][0]["message"]
    assert "annotations" not in message and "function_call" not in message
    assert "system_fingerprint" not in body
    assert set(body["usage"]) == {"prompt_tokens", "total_tokens", "completion_tokens"}
    # Nullable in the spec: kept as they came.
    assert message["refusal"] is None and body["choices"][0]["logprobs"] is None
    assert message["content"] == "Hi."


def test_values_that_are_set_are_kept():
    answer = _vllm_034_chat_answer()
    answer["system_fingerprint"] = "fp"
    answer["usage"]["prompt_tokens_details"] = {"cached_tokens": 2}
    body = reply_conformed(answer)
    assert body["system_fingerprint"] == "fp"
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 2}


@pytest.mark.parametrize("path", ["/v1/x%0ay", "/v1/%0a", "/v1/models/a%0ab", "/v1/a%0d%0ab"])
def test_a_path_with_an_encoded_newline_is_a_json_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "unknown_url"


def test_stream_null_means_false():
    body = validation.chat_body({"model": "m", "messages": MESSAGES, "stream": None})
    assert "stream" not in body


def test_explicit_nulls_of_unsupported_fields_mean_absent():
    body = validation.chat_body(
        {"model": "m", "messages": MESSAGES, "priority": None, "frobnicate": None, "user": None}
    )
    assert set(body) == {"model", "messages", "max_tokens"}


@pytest.mark.django_db(transaction=True, available_apps=["accounts", "gateway"])
def test_the_served_api_answers_an_encoded_newline_with_a_json_404(api, owner, settings):
    fast_passwords(settings)
    response = httpx.get(f"{api.v1}/chat%0acompletions", headers=bearer(key_for(owner)))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "unknown_url"
