"""vLLM 0.34 ignores the removed guided_* fields (the output comes back unconstrained, with
a 200); the gateway moves them into ``structured_outputs`` or refuses them, never forwards
them to be ignored."""

from __future__ import annotations

import httpx
import pytest

from gateway.api import validation
from gateway.api.errors import ApiError
from tests.gateway.api_support import FAST, bearer, chat, fast_passwords, key_for

MESSAGES = [{"role": "user", "content": "hi"}]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


def _chat(**extra) -> dict:
    return validation.chat_body({"model": "m", "messages": MESSAGES, **extra})


def _refused(**extra) -> ApiError:
    with pytest.raises(ApiError) as caught:
        _chat(**extra)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        ("guided_json", SCHEMA, "json"),
        ("guided_json", '{"type": "string"}', "json"),
        ("guided_regex", "[a-z]+", "regex"),
        ("guided_choice", ["yes", "no"], "choice"),
        ("guided_grammar", 'root ::= "a"', "grammar"),
    ],
)
def test_each_guided_field_becomes_its_structured_outputs_key(field, value, key):
    body = _chat(**{field: value})
    assert body["structured_outputs"] == {key: value}
    assert not any(name.startswith("guided_") for name in body)


def test_the_whitespace_pattern_goes_with_its_constraint():
    body = _chat(guided_json=SCHEMA, guided_whitespace_pattern=r"[ ]?")
    assert body["structured_outputs"] == {"json": SCHEMA, "whitespace_pattern": r"[ ]?"}
    assert "guided_whitespace_pattern" not in body


def test_completions_are_translated_too():
    body = validation.completion_body({"model": "m", "prompt": "x", "guided_regex": "a+"})
    assert body["structured_outputs"] == {"regex": "a+"}
    assert "guided_regex" not in body


def test_explicit_nulls_ask_for_nothing():
    body = _chat(guided_json=None, guided_whitespace_pattern=None)
    assert "structured_outputs" not in body
    assert not any(name.startswith("guided_") for name in body)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"guided_json": SCHEMA, "guided_regex": "a+"}, "guided_regex"),
        ({"guided_choice": ["a"], "structured_outputs": {"regex": "a+"}}, "guided_choice"),
        ({"guided_regex": "a+", "response_format": {"type": "json_object"}}, "guided_regex"),
        ({"guided_whitespace_pattern": " "}, "guided_whitespace_pattern"),
    ],
    ids=["two-constraints", "with-structured_outputs", "with-response_format", "pattern-alone"],
)
def test_what_cannot_be_moved_without_guessing_is_a_clear_400(extra, param):
    error = _refused(**extra)
    assert error.param == param
    assert f"`{param}`" in error.message or param in error.message


def test_a_text_response_format_does_not_conflict():
    body = _chat(guided_choice=["a", "b"], response_format={"type": "text"})
    assert body["structured_outputs"] == {"choice": ["a", "b"]}


# --- Through the gateway to a worker that ignores guided_* as vLLM 0.34 does ---------------


@pytest.mark.django_db(transaction=True, available_apps=["accounts", "gateway"])
def test_a_guided_choice_constrains_the_answer_through_the_gateway(api, owner, settings):
    fast_passwords(settings)
    choices = ["yes", "no"]
    body = chat(model=FAST, guided_choice=choices, seed=1, max_tokens=20)

    direct = httpx.post(f"{api.workers[FAST]}/v1/chat/completions", json=body, timeout=20)
    through = httpx.post(
        f"{api.v1}/chat/completions", json=body, headers=bearer(key_for(owner)), timeout=20
    )

    # The worker alone ignores the old field: its answer is free text.
    assert direct.json()["choices"][0]["message"]["content"] not in choices
    assert through.status_code == 200, through.text
    assert through.json()["choices"][0]["message"]["content"] in choices
