"""Forwarded fields: whatever /v1 passes to a worker is reviewed for what it may hold, not only
for its name. A client's Jinja template nested in ``chat_template_kwargs`` (which vLLM before
0.11 rendered), out-of-vocabulary token ids, huge token and word lists, unbounded grammars,
non-finite numbers and 100-bit integers are refused with a 400 before anything goes upstream
(gateway/api/fields.py).

The front-door cases run on the real Daphne of tests/gateway/api_support.py (body cap 4096
bytes); the size caps above that body cap are checked on the validation functions, with the
caps lowered for the test.
"""

from __future__ import annotations

import httpx
import pytest

from gateway.api import fields, validation
from gateway.api.errors import ApiError
from tests.gateway.api_support import FAST, bearer, chat, emulator_state, key_for

MESSAGES = [{"role": "user", "content": "hi"}]


# --- Every forwarded field has a rule --------------------------------------------------------


def test_every_field_the_gateway_forwards_has_a_review_of_its_own():
    forwarded = (
        validation.CHAT_FIELDS
        | validation.COMPLETION_FIELDS
        | validation.EMBEDDING_FIELDS
        | validation.RESPONSES_FIELDS
    )
    assert forwarded - fields.fields_rules() == set()


# --- By the front door ------------------------------------------------------------------------

TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}{{ cycler.__init__.__globals__ }}"
REFUSED_BODIES = {
    "a template in chat_template_kwargs": chat(chat_template_kwargs={"chat_template": TEMPLATE}),
    "a template under another name": chat(chat_template_kwargs={"tool_template": TEMPLATE}),
    "a jinja key": chat(chat_template_kwargs={"jinja": TEMPLATE}),
    "the renderer's own arguments": chat(chat_template_kwargs={"messages": []}),
    "structure to render": chat(chat_template_kwargs={"enable_thinking": {"a": [1]}}),
    "a template nested in a message": chat(
        messages=[{"role": "user", "content": "hi", "chat_template": TEMPLATE}]
    ),
    "a template nested in a schema": chat(
        response_format={"type": "json_schema", "json_schema": {"chat_template": TEMPLATE}}
    ),
    "multimodal processor arguments": chat(mm_processor_kwargs={"size": 10**9}),
    "logit_bias past the vocabulary": chat(logit_bias={"999999999": 5}),
    "logit_bias with a negative id": chat(logit_bias={"-1": 5}),
    "logit_bias out of range": chat(logit_bias={"5": 1e6}),
    "logit_bias with too many entries": chat(logit_bias={str(i): 1 for i in range(301)}),
    "allowed_token_ids past the vocabulary": chat(allowed_token_ids=[10**9]),
    "stop_token_ids past the vocabulary": chat(stop_token_ids=[-3]),
    "too many stop_token_ids": chat(stop_token_ids=list(range(65))),
    "too many bad_words": chat(bad_words=["x"] * 65),
    "a long bad word": chat(bad_words=["x" * 201]),
    "guided_choice with too many choices": chat(guided_choice=["a"] * 257),
    "truncate_prompt_tokens below -1": chat(truncate_prompt_tokens=-5),
    "a seed of 100 bits": chat(seed=2**100),
    "top_p out of range": chat(top_p=7),
    "logprobs as a count in chat": chat(logprobs=5),
    "a response_format of unknown type": chat(response_format={"type": "python"}),
    "stream_options with extra keys": chat(stream=True, stream_options={"x": True}),
    "a tool_choice that is not one": chat(tool_choice="always"),
}
# What a JSON encoder would not write, but Python's JSON reader takes.
REFUSED_RAW = [
    b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"temperature":1e999}',
    b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"top_p":NaN}',
    b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"seed":-Infinity}',
]
REFUSED_COMPLETIONS = {
    "prompt token ids past the vocabulary": {"model": FAST, "prompt": [1, 2, 10**9]},
    "a prompt of 100-bit ids": {"model": FAST, "prompt": [2**100]},
}


@pytest.fixture
def client(api, owner):
    with httpx.Client(base_url=api.v1, headers=bearer(key_for(owner)), timeout=60) as client:
        yield client


@pytest.mark.django_db(transaction=True)
def test_fields_that_reach_past_sampling_are_refused_before_anything_goes_upstream(api, client):
    before = emulator_state(api.workers[FAST])["started"]
    for what, body in REFUSED_BODIES.items():
        answer = client.post("/chat/completions", json=body)
        assert answer.status_code == 400, (what, answer.text[:300])
        assert answer.json()["error"]["message"], what
    for raw in REFUSED_RAW:
        answer = client.post(
            "/chat/completions",
            content=raw % FAST.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 400, (raw, answer.text[:300])
    for what, body in REFUSED_COMPLETIONS.items():
        answer = client.post("/completions", json=body)
        assert answer.status_code == 400, (what, answer.text[:300])
    answer = client.post("/embeddings", json={"model": FAST, "input": [[10**9]]})
    assert answer.status_code == 400, answer.text[:300]
    assert emulator_state(api.workers[FAST])["started"] == before


@pytest.mark.django_db(transaction=True)
def test_ordinary_values_of_the_same_fields_still_reach_the_worker(client):
    answer = client.post(
        "/chat/completions",
        json=chat(
            max_tokens=3,
            chat_template_kwargs={"enable_thinking": False},
            logit_bias={"50256": -100},
            stop_token_ids=[2],
            bad_words=["darn"],
            truncate_prompt_tokens=-1,
            seed=2**62,
            temperature=0.7,
            top_p=0.9,
            logprobs=False,
        ),
    )
    assert answer.status_code == 200, answer.text[:300]


# --- Sizes beyond the test server's body cap, on the validation itself ----------------------


@pytest.fixture
def small_caps(settings, monkeypatch):
    settings.AIPORTAL_MAX_TOKENS = 100
    settings.AIPORTAL_API_VOCAB_SIZE = 1000
    monkeypatch.setattr(fields, "MAX_GUIDE_BYTES", 64)


@pytest.mark.parametrize(
    "extra",
    [
        {"guided_regex": "a" * 100},
        {"guided_grammar": "root ::= " + "a" * 100},
        {"guided_json": {"type": "object", "description": "x" * 100}},
        {"guided_choice": ["x" * 80]},
        {"structured_outputs": {"regex": "a" * 100}},
        {"response_format": {"type": "json_schema", "json_schema": {"d": "x" * 100}}},
        {"allowed_token_ids": [1] * (fields.MAX_TOKEN_LIST + 1)},
        {"logit_bias": {"1000": 1}},
    ],
    ids=lambda extra: next(iter(extra)),
)
def test_grammars_schemas_and_token_lists_have_a_size_cap(small_caps, extra):
    with pytest.raises(ApiError) as caught:
        validation.chat_body({"model": "m", "messages": MESSAGES, **extra})
    assert caught.value.status == 400
    assert caught.value.param == next(iter(extra))
