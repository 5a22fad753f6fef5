"""validation.responses_body: what a /v1/responses body may hold, and what goes upstream."""

from __future__ import annotations

import pytest

from gateway.api import validation
from gateway.api.errors import ApiError


@pytest.fixture(autouse=True)
def caps(settings):
    settings.AIPORTAL_MAX_TOKENS = 100
    settings.AIPORTAL_API_MAX_MESSAGES = 3
    settings.AIPORTAL_API_MAX_TOOLS_BYTES = 200


def refused(body: dict) -> ApiError:
    with pytest.raises(ApiError) as caught:
        validation.responses_body({"model": "m", "input": "hi", **body})
    assert caught.value.status == 400
    return caught.value


def test_what_goes_upstream():
    body = validation.responses_body(
        {"model": "m", "input": "hi", "store": True, "metadata": {"a": "b"}, "user": "u",
         "background": False, "stream_options": {"include_obfuscation": True},
         "max_output_tokens": 5000, "stream": None, "prompt_cache_key": "k"}
    )  # fmt: skip
    # Platform fields dropped, store always false, the token cap applied, the cache key kept
    # for the view to take out.
    assert body == {
        "model": "m", "input": "hi", "max_output_tokens": 100, "store": False,
        "prompt_cache_key": "k",
    }  # fmt: skip
    assert validation.responses_body({"model": "m", "input": "hi"})["max_output_tokens"] == 100


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"input": [{"type": {"nested": 1}}]}, "input"),
        ({"input": [["a"]]}, "input"),
        ({"input": [{"type": "message", "content": "no role"}]}, "input"),
        ({"input": [{"role": "user", "content": "x"}] * 4}, "input"),
        ({"include": [{"a": 1}]}, "include"),
        ({"include": "reasoning.encrypted_content"}, "include"),
        ({"tools": [{"type": "function", "name": "x" * 300}]}, "tools"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"reasoning": {"effort": {"x": 1}}}, "reasoning.effort"),
        ({"reasoning": {"budget": 5}}, "reasoning"),
        ({"text": {"format": "json"}}, "text.format"),
        ({"text": {"verbosity": "very"}}, "text.verbosity"),
        ({"text": {"colour": "red"}}, "text"),
        ({"max_tool_calls": 0}, "max_tool_calls"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"instructions": ["a"]}, "instructions"),
        ({"include_reasoning": "yes"}, "include_reasoning"),
        ({"stream_options": None, "n": 2}, "n"),
        ({"priority": -10}, "priority"),
        ({"cache_salt": "s"}, "cache_salt"),
    ],
)
def test_each_field_is_reviewed(extra, param):
    assert refused(extra).param == param


def test_state_the_gateway_does_not_keep_is_refused_with_what_to_do_instead():
    error = refused({"previous_response_id": "resp_1"})
    assert error.code == "unsupported_parameter"
    assert "`input`" in error.message
    assert refused({"input": [{"type": "item_reference", "id": "x"}]}).code == (
        "unsupported_parameter"
    )
    assert refused({"background": True}).param == "background"
