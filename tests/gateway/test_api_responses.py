"""/v1/responses on a real Daphne (tests/gateway/api_support.py): the official ``openai``
SDK's ``responses`` client, streaming and not, and raw HTTP for keys, model access, budgets,
field review, a stream that breaks off, a client that leaves, X-Request-Id and usage."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from django.contrib.auth.models import Group
from openai import OpenAI

from gateway.models import ModelAccess, Policy, UsageRecord
from tests.gateway.api_support import (
    DYING,
    FAST,
    SLOW,
    bearer,
    emulator_state,
    fast_passwords,
    key_for,
    usage_settled,
    wait_until,
)

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
QUESTION = "Tell me about prefix caches."


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


@pytest.fixture
def client(api, owner) -> OpenAI:
    return OpenAI(base_url=api.v1, api_key=key_for(owner), max_retries=0, timeout=20)


def post(api, body: dict, token: str | None, **kwargs) -> httpx.Response:
    headers = {**(bearer(token) if token else {}), **kwargs.pop("headers", {})}
    return httpx.post(f"{api.v1}/responses", json=body, headers=headers, timeout=20, **kwargs)


def events_of(response: httpx.Response) -> list[tuple[str, dict]]:
    """(the ``event:`` line's name, the data) of each event of a whole SSE body."""
    out = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


def error_of(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    return error


# --- The SDK ----------------------------------------------------------------------------------


def test_a_response_from_the_sdk(client, owner):
    answer = client.responses.create(
        model=FAST, input=QUESTION, instructions="Be brief.", max_output_tokens=12
    )
    assert answer.object == "response"
    assert answer.model == FAST
    assert answer.status == "incomplete"  # cut at max_output_tokens, as vLLM says it
    assert answer.incomplete_details.reason == "max_output_tokens"
    assert answer.output_text
    assert answer.usage.output_tokens == 12
    (record,) = usage_settled(owner, 1)
    assert (record.prompt_tokens, record.completion_tokens) == (answer.usage.input_tokens, 12)
    assert record.outcome == UsageRecord.Outcome.COMPLETE


def test_a_streamed_response_from_the_sdk_is_the_same_answer(client, owner):
    whole = client.responses.create(model=FAST, input=QUESTION, extra_body={"seed": 4})
    stream = client.responses.create(
        model=FAST, input=QUESTION, stream=True, extra_body={"seed": 4}
    )
    events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",  # AIPORTAL_MAX_TOKENS (64 here) cut it
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == whole.output_text
    final = events[-1].response
    assert final.status == "incomplete" and final.output_text == text
    records = usage_settled(owner, 2)
    assert [r.outcome for r in records] == [UsageRecord.Outcome.COMPLETE] * 2
    assert records[0].completion_tokens == final.usage.output_tokens > 0
    assert records[0].ttft_ms is not None


def test_the_sdk_sees_errors_in_openais_shape(client, api, owner):
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-imaginary", input=QUESTION)
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=FAST, input=QUESTION, previous_response_id="resp_1")
    assert (caught.value.code, caught.value.param) == (
        "unsupported_parameter",
        "previous_response_id",
    )
    bad = OpenAI(base_url=api.v1, api_key="sk-not-ours", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model=FAST, input=QUESTION)


# --- Raw HTTP: keys, access, budgets ----------------------------------------------------------


def test_a_bad_or_missing_key_is_401(api, owner):
    body = {"model": FAST, "input": QUESTION}
    error_of(post(api, body, None), 401)
    error_of(post(api, body, "aip_0123456789ab_" + "x" * 40), 401, "invalid_api_key")
    assert UsageRecord.objects.filter(user=owner).count() == 0


def test_a_model_i_may_not_use_looks_exactly_like_one_that_does_not_exist(api, owner, member):
    group = Group.objects.create(name=f"research-{owner.pk}")
    member.groups.add(group)
    ModelAccess.objects.create(model=FAST).groups.add(group)
    mine = key_for(owner)
    for stream in (False, True):
        hidden = post(api, {"model": FAST, "input": "hi", "stream": stream}, mine)
        missing = post(api, {"model": "nope", "input": "hi", "stream": stream}, mine)
        error_of(hidden, 404, "model_not_found")
        assert hidden.json() == json.loads(missing.text.replace("nope", FAST))
    ok = post(api, {"model": FAST, "input": "hi", "max_output_tokens": 2}, key_for(member))
    assert ok.status_code == 200, ok.text
    usage_settled(member, 1)
    usage_settled(owner, 2)


def test_a_spent_budget_is_429_over_budget(api, owner):
    Policy.objects.create(user=owner, daily_token_budget=20)
    token = key_for(owner)
    first = post(api, {"model": FAST, "input": QUESTION, "max_output_tokens": 16}, token)
    assert first.status_code == 200, first.text
    assert first.json()["usage"]["total_tokens"] > 20
    usage_settled(owner, 1)
    for stream in (False, True):
        refused = post(api, {"model": FAST, "input": "hi", "stream": stream}, token)
        error_of(refused, 429, "over_budget")
        assert int(refused.headers["Retry-After"]) >= 1


# --- Raw HTTP: the review of fields -----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"previous_response_id": "resp_abc"}, "previous_response_id", "unsupported_parameter"),
        ({"conversation": "conv_1"}, "conversation", "unsupported_parameter"),
        ({"background": True}, "background", "unsupported_parameter"),
        ({"api_base": "http://evil.example"}, "api_base", "unsupported_parameter"),
        ({"request_id": "mine"}, "request_id", "unsupported_parameter"),
        ({"frobnicate": 1}, "frobnicate", "unknown_parameter"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input", "unsupported_parameter"),
        ({"input": []}, "input", None),
        ({"input": 5}, "input", None),
        ({"text": {"format": {"type": "python"}}}, "text.format", None),
        ({"include": ["everything"]}, "include", None),
        ({"truncation": "sometimes"}, "truncation", None),
        ({"temperature": "hot"}, "temperature", None),
        ({"max_output_tokens": 0}, "max_output_tokens", None),
        ({"chat_template_kwargs": {"chat_template": "{{ x }}"}}, "chat_template_kwargs", None),
    ],
)
def test_fields_are_reviewed_before_any_worker_sees_them(api, owner, extra, param, code):
    body = {"model": FAST, "input": QUESTION, **extra}
    error = error_of(post(api, body, key_for(owner)), 400, code)
    assert error["param"] is not None and error["param"].startswith(param), error
    assert UsageRecord.objects.filter(user=owner).count() == 0


def test_platform_fields_are_accepted_and_max_output_tokens_clamped(api, owner):
    body = {
        "model": FAST,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": QUESTION}]}],
        "store": True,
        "metadata": {"k": "v"},
        "user": "someone",
        "background": False,
        "stream_options": {"include_obfuscation": False},
        "prompt_cache_key": "project-7",
        "max_output_tokens": 100000,
    }
    response = post(api, body, key_for(owner))
    assert response.status_code == 200, response.text
    # AIPORTAL_MAX_TOKENS is 64 on this server: clamped, not refused.
    assert response.json()["max_output_tokens"] == 64
    usage_settled(owner, 1)


def test_a_prompt_longer_than_the_context_is_the_workers_400(api, owner):
    response = post(api, {"model": FAST, "input": "a " * 1100}, key_for(owner))
    error = error_of(response, 400)
    assert "max_model_len" in error["message"]
    usage_settled(owner, 1)


# --- Raw HTTP: streams ------------------------------------------------------------------------


def test_a_stream_that_breaks_after_its_first_event_ends_with_response_failed(api, owner):
    # The dying worker errs after 3 tokens; vLLM 0.34's stream then breaks off.
    response = post(api, {"model": DYING, "input": QUESTION, "stream": True}, key_for(owner))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    events = events_of(response)
    assert all(name == data["type"] for name, data in events)
    datas = [data for _, data in events]
    assert [data["sequence_number"] for data in datas] == list(range(len(datas)))
    last = datas[-1]
    assert last["type"] == "response.failed"
    failed = last["response"]
    assert failed["status"] == "failed"
    assert failed["id"] == datas[0]["response"]["id"]
    assert failed["error"]["code"] == "server_error" and failed["error"]["message"]
    (item,) = failed["output"]
    text = "".join(d["delta"] for d in datas if d["type"] == "response.output_text.delta")
    assert text and item["status"] == "incomplete"
    assert item["content"][0]["text"] == text
    (record,) = usage_settled(owner, 1)
    assert record.outcome == UsageRecord.Outcome.INTERRUPTED
    # No usage came: each delta received counts one token.
    deltas = [d for d in datas if d["type"] == "response.output_text.delta"]
    assert record.completion_tokens == len(deltas) > 0


def test_a_client_that_leaves_aborts_the_upstream_request(api, owner):
    worker = api.workers[SLOW]
    aborted = emulator_state(worker)["aborted"]
    body = {"model": SLOW, "input": QUESTION, "stream": True, "max_output_tokens": 40}
    with httpx.stream(
        "POST", f"{api.v1}/responses", json=body, headers=bearer(key_for(owner)), timeout=20
    ) as response:
        next(line for line in response.iter_lines() if "output_text.delta" in line)
    wait_until(
        lambda: emulator_state(worker)["aborted"] == aborted + 1,
        what="the worker to abort the request",
    )
    assert emulator_state(worker)["running"] == 0
    (record,) = usage_settled(owner, 1)
    assert record.outcome == UsageRecord.Outcome.STOPPED


def test_the_request_id_goes_upstream_and_comes_back(api, owner):
    token = key_for(owner)
    for stream in (False, True):
        mine = f"client-id-{int(stream)}"
        body = {"model": FAST, "input": "hi", "max_output_tokens": 3, "stream": stream}
        response = post(api, body, token, headers={"X-Request-Id": mine})
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-Id"] == mine
        assert mine in emulator_state(api.workers[FAST])["request_ids"]
    records = usage_settled(owner, 2)
    assert {record.request_id for record in records} == {"client-id-0", "client-id-1"}
