"""The /v1 API over raw HTTP against a real Daphne: auth, validation and caps, SSE, usage."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from gateway.keys import apikey_authenticate, apikey_revoke
from gateway.models import ApiKey, ModelAccess, UsageRecord
from tests.gateway.api_support import (
    BROKEN,
    DYING,
    FAST,
    SLOW,
    ApiServer,
    bearer,
    chat,
    emulator_state,
    fast_passwords,
    key_for,
    usage_settled,
    wait_until,
)

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


def post(api: ApiServer, path: str, body, token: str | None, **kwargs) -> httpx.Response:
    headers = bearer(token) if token else {}
    if isinstance(body, bytes):
        return httpx.post(f"{api.v1}/{path}", content=body, headers=headers, timeout=20)
    return httpx.post(f"{api.v1}/{path}", json=body, headers=headers, timeout=20, **kwargs)


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# --- Authentication ---------------------------------------------------------------------------


def test_it_rejects_a_request_without_a_key(api, owner):
    response = post(api, "chat/completions", chat(), None)
    assert_openai_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-key",
        "aip_0123456789ab_" + "A" * 40,  # well-formed, unknown prefix
        "Basic dXNlcjpwYXNz",
    ],
)
def test_it_rejects_a_bad_key(api, owner, token):
    assert_openai_error(post(api, "chat/completions", chat(), token), 401, "invalid_api_key")


def test_it_rejects_a_real_prefix_with_a_wrong_secret(api, owner):
    token = key_for(owner)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_openai_error(post(api, "chat/completions", chat(), forged), 401, "invalid_api_key")


def test_it_rejects_a_revoked_key(api, owner):
    token = key_for(owner)
    assert post(api, "chat/completions", chat(max_tokens=2), token).status_code == 200
    apikey_revoke(key=ApiKey.objects.get(user=owner), by=owner)
    assert_openai_error(post(api, "chat/completions", chat(), token), 401, "invalid_api_key")
    usage_settled(owner, 1)  # the refused request wrote none


def test_it_rejects_an_expired_key(api, owner):
    token = key_for(owner, expires_in=timedelta(days=1))
    ApiKey.objects.filter(user=owner).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_openai_error(post(api, "chat/completions", chat(), token), 401, "invalid_api_key")
    assert httpx.get(f"{api.v1}/models", headers=bearer(token)).status_code == 401


def test_it_rejects_the_key_of_an_inactive_user(api, owner):
    token = key_for(owner)
    owner.is_active = False
    owner.save()
    response = httpx.get(f"{api.v1}/models", headers=bearer(token))
    assert_openai_error(response, 401, "invalid_api_key")


def test_a_signed_in_browser_session_cannot_call_the_api(api, owner):
    browser = Client()
    browser.force_login(owner)
    cookies = {"sessionid": browser.cookies["sessionid"].value}
    response = httpx.post(f"{api.v1}/chat/completions", json=chat(), cookies=cookies)
    assert_openai_error(response, 401)
    # …while the same session does open the pages.
    assert httpx.get(f"{api.url}/settings/keys/", cookies=cookies).status_code == 200


def test_the_key_never_reaches_the_logs(api, owner, caplog):
    token = key_for(owner)
    apikey_revoke(key=ApiKey.objects.get(user=owner), by=owner)
    sentinel = "aip_feedfacecafe_" + "S" * 40
    before = len(api.daphne.output)
    for secret in (token, sentinel):
        assert post(api, "chat/completions", chat(), secret).status_code == 401
        assert httpx.get(f"{api.v1}/models", headers=bearer(secret)).status_code == 401
    # Daphne logs at DEBUG in these tests: nothing it wrote holds either key or its secret.
    logged = "".join(api.daphne.output[before:])
    for secret in (token, sentinel):
        assert secret not in logged and secret[17:] not in logged
    # In-process, every record of every logger, at every level.
    caplog.set_level(logging.DEBUG)
    assert apikey_authenticate(token=sentinel) is None
    assert apikey_authenticate(token=token) is None
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.__dict__)
        assert sentinel not in text and token not in text


def test_a_key_used_is_marked_used_once_a_minute(api, owner):
    token = key_for(owner)
    assert ApiKey.objects.get(user=owner).last_used_at is None
    httpx.get(f"{api.v1}/models", headers=bearer(token))
    first = ApiKey.objects.get(user=owner).last_used_at
    assert first is not None
    httpx.get(f"{api.v1}/models", headers=bearer(token))
    assert ApiKey.objects.get(user=owner).last_used_at == first


# --- Validation and caps ----------------------------------------------------------------------


def test_a_body_over_the_cap_is_413(api, owner):
    token = key_for(owner)
    big = chat("x" * 5000)
    assert_openai_error(post(api, "chat/completions", big, token), 413, "request_too_large")

    # A chunked body declares no length: it is measured once read.
    def chunks():
        yield json.dumps(big).encode()

    response = httpx.post(
        f"{api.v1}/chat/completions", content=chunks(), headers=bearer(token), timeout=20
    )
    assert "content-length" not in response.request.headers
    assert_openai_error(response, 413, "request_too_large")


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b"\xff\xfe", b""])
def test_a_body_that_is_not_a_json_object_is_400(api, owner, body):
    token = key_for(owner)
    assert_openai_error(post(api, "chat/completions", body, token), 400, "invalid_json")


@pytest.mark.parametrize(
    "field, value",
    [
        ("api_base", "http://169.254.169.254"),
        ("base_url", "http://attacker.example"),
        ("api_key", "sk-other"),
        ("extra_headers", {"X-Forwarded-For": "1.2.3.4"}),
        ("headers", {"Host": "internal"}),
        ("extra_body", {"api_base": "http://x"}),
        ("priority", -100),
    ],
)
def test_fields_that_would_steer_upstream_are_refused(api, owner, field, value):
    token = key_for(owner)
    response = post(api, "chat/completions", chat(**{field: value}), token)
    error = assert_openai_error(response, 400, "unsupported_parameter")
    assert error["param"] == field
    assert not UsageRecord.objects.filter(user=owner).exists()  # nothing went upstream


def test_unknown_fields_are_refused_and_platform_fields_dropped(api, owner):
    token = key_for(owner)
    error = assert_openai_error(
        post(api, "chat/completions", chat(frobnicate=True), token), 400, "unknown_parameter"
    )
    assert error["param"] == "frobnicate"
    ok = post(
        api,
        "chat/completions",
        chat(max_tokens=2, user="u-1", metadata={"callback": "http://x.example"}, store=True),
        token,
    )
    assert ok.status_code == 200, ok.text
    usage_settled(owner, 1)


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"n": 3}, "n"),
        ({"n": 0}, "n"),
        ({"best_of": 5}, None),  # not a chat field: unknown
        ({"messages": [{"role": "user", "content": "hi"}] * 9}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages"),
        ({"tools": [{"type": "function", "function": {"name": "f" * 600}}]}, "tools"),
        ({"max_tokens": "lots"}, "max_tokens"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"model": 7}, "model"),
    ],
)
def test_requests_beyond_the_caps_or_malformed_are_400(api, owner, extra, param):
    token = key_for(owner)
    error = assert_openai_error(post(api, "chat/completions", chat(**extra), token), 400)
    if param:
        assert error["param"] == param


def test_max_tokens_above_the_cap_is_clamped_not_refused(api, owner):
    token = key_for(owner)
    response = post(api, "chat/completions", chat(max_tokens=5000), token)
    assert response.status_code == 200
    body = response.json()
    assert body["usage"]["completion_tokens"] == 64  # AIPORTAL_MAX_TOKENS in these tests
    assert body["choices"][0]["finish_reason"] == "length"
    usage_settled(owner, 1)


def test_an_unknown_model_is_404(api, owner):
    token = key_for(owner)
    error = assert_openai_error(
        post(api, "chat/completions", chat(model="no-such-model"), token), 404, "model_not_found"
    )
    assert error["param"] == "model"
    response = httpx.get(f"{api.v1}/models/no-such-model", headers=bearer(token))
    assert_openai_error(response, 404, "model_not_found")


def test_a_model_i_may_not_use_looks_exactly_like_one_that_does_not_exist(api, owner, member):
    group = Group.objects.create(name=f"research-{owner.pk}")
    member.groups.add(group)
    ModelAccess.objects.create(model=FAST).groups.add(group)
    mine, theirs = key_for(owner), key_for(member)
    listed = httpx.get(f"{api.v1}/models", headers=bearer(mine)).json()["data"]
    assert FAST not in {card["id"] for card in listed}
    for stream in (False, True):
        hidden = post(api, "chat/completions", chat(stream=stream), mine)
        missing = post(api, "chat/completions", chat(model="nope", stream=stream), mine)
        assert_openai_error(hidden, 404, "model_not_found")
        assert hidden.json() == json.loads(missing.text.replace("nope", FAST))
    assert post(api, "chat/completions", chat(max_tokens=2), theirs).status_code == 200
    usage_settled(member, 1)
    usage_settled(owner, 2)  # the proxy refused the two requests: recorded as rejected


def test_a_known_model_whose_workers_are_down_is_503_not_404(api, owner):
    token = key_for(owner)
    worker = api.workers[DYING]

    def listed() -> bool:
        names = httpx.get(f"{api.v1}/models", headers=bearer(token)).json()["data"]
        return DYING in {card["id"] for card in names}

    httpx.post(f"{worker}/emulator/faults", json={"unhealthy": True})
    try:
        wait_until(lambda: not listed(), what="the prober to see the worker down")
        response = post(api, "chat/completions", chat(model=DYING), token)
        assert_openai_error(response, 503)  # a retry may succeed: not "model_not_found"
    finally:
        httpx.delete(f"{worker}/emulator/faults")
        # Back to its own faults for the other tests (set at start: --error-after-tokens 3).
        httpx.post(f"{worker}/emulator/faults", json={"error_after_tokens": 3})
    wait_until(listed, what="the worker to come back")
    usage_settled(owner, 1)


def test_a_wrong_method_or_path_answers_in_openai_shape(api, owner):
    token = key_for(owner)
    response = httpx.get(f"{api.v1}/chat/completions", headers=bearer(token))
    assert_openai_error(response, 405)
    assert response.headers["allow"] == "POST"
    assert_openai_error(httpx.get(f"{api.v1}/nothing/here", headers=bearer(token)), 404)


# --- Answers and SSE --------------------------------------------------------------------------


def test_models_lists_the_served_models_in_openai_shape(api, owner):
    body = httpx.get(f"{api.v1}/models", headers=bearer(key_for(owner))).json()
    assert body["object"] == "list"
    assert {FAST, SLOW, DYING, BROKEN} <= {card["id"] for card in body["data"]}
    for card in body["data"]:
        assert card["object"] == "model" and isinstance(card["created"], int)


def test_frames_arrive_while_the_worker_is_still_generating(api, owner):
    token = key_for(owner)
    body = chat(model=SLOW, stream=True, max_tokens=40)
    with httpx.stream(
        "POST", f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["cache-control"] == "no-cache"
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        frame = json.loads(first.removeprefix("data: "))
        assert frame["object"] == "chat.completion.chunk"
        # At 4 tokens/s, 40 tokens take 10 s: the worker is still at it.
        state = emulator_state(api.workers[SLOW])
        assert state["running"] == 1 and state["completed"] == 0
    (record,) = usage_settled(owner, 1)
    assert record.outcome == UsageRecord.Outcome.STOPPED


def test_a_client_that_leaves_aborts_the_upstream_request(api, owner):
    token = key_for(owner)
    worker = api.workers[SLOW]
    aborted = emulator_state(worker)["aborted"]
    body = chat(model=SLOW, stream=True, max_tokens=40)
    with httpx.stream(
        "POST", f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ) as response:
        next(line for line in response.iter_lines() if '"content"' in line)
    wait_until(
        lambda: emulator_state(worker)["aborted"] == aborted + 1,
        what="the worker to abort the request",
    )
    assert emulator_state(worker)["running"] == 0
    (record,) = usage_settled(owner, 1)
    assert record.outcome == UsageRecord.Outcome.STOPPED


def test_a_stream_that_fails_midway_ends_with_an_error_frame_then_done(api, owner):
    token = key_for(owner)
    body = chat(model=DYING, stream=True)
    with httpx.stream(
        "POST", f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ) as response:
        assert response.status_code == 200
        frames = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    assert frames[-1] == "[DONE]"
    error = json.loads(frames[-2])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert any("content" in frame for frame in frames[:-2])  # some text came first
    (record,) = usage_settled(owner, 1)
    assert record.outcome == UsageRecord.Outcome.INTERRUPTED


def test_a_busy_worker_gives_a_retryable_error_in_openai_shape(api, owner):
    token = key_for(owner)
    for stream in (False, True):
        response = post(api, "chat/completions", chat(model=BROKEN, stream=stream), token)
        # Its 503 says "busy" (vLLM's full queue): the first request hears it, the next one
        # finds its only worker still backing off and the fair queue (no wait here) full.
        assert response.status_code in (503, 429), response.text
        assert_openai_error(response, response.status_code)
        assert int(response.headers["Retry-After"]) >= 1
    records = usage_settled(owner, 2)
    assert {record.outcome for record in records} <= {
        UsageRecord.Outcome.ERROR,
        UsageRecord.Outcome.REJECTED,
    }


def test_a_second_stream_over_the_users_limit_is_429_with_retry_after(api, owner):
    token = key_for(owner)
    body = chat(model=SLOW, stream=True, max_tokens=40)
    with httpx.stream(
        "POST", f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ) as first:
        # Keep the line iterator referenced: a discarded one closes the response.
        lines = first.iter_lines()
        next(line for line in lines if line.startswith("data: "))
        second = post(api, "chat/completions", chat(max_tokens=2), token)
        assert emulator_state(api.workers[SLOW])["running"] == 1  # the first is still open
    assert_openai_error(second, 429)
    assert int(second.headers["retry-after"]) >= 1
    outcomes = {record.outcome for record in usage_settled(owner, 2)}
    assert outcomes == {UsageRecord.Outcome.REJECTED, UsageRecord.Outcome.STOPPED}


# --- Usage ------------------------------------------------------------------------------------


def test_each_request_writes_one_usage_record_with_its_tokens(api, owner):
    token = key_for(owner)
    key = ApiKey.objects.get(user=owner)
    answer = post(api, "chat/completions", chat(max_tokens=7), token).json()
    (record,) = usage_settled(owner, 1)
    assert record.source == UsageRecord.Source.API
    assert record.api_key_id == key.pk
    assert record.model == FAST
    assert record.outcome == UsageRecord.Outcome.COMPLETE
    assert record.prompt_tokens == answer["usage"]["prompt_tokens"] > 0
    assert record.completion_tokens == answer["usage"]["completion_tokens"] == 7
    assert record.worker == api.workers[FAST].removeprefix("http://")
    assert record.region == "test-a"

    # A stream that did not ask for usage is still counted in full.
    body = chat(max_tokens=5, stream=True)
    with httpx.stream(
        "POST", f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ) as response:
        frames = [line for line in response.iter_lines() if line.startswith("data: {")]
    assert all('"usage"' not in frame for frame in frames)
    streamed = usage_settled(owner, 2)[0]
    assert streamed.completion_tokens == 5 and streamed.prompt_tokens > 0
    assert streamed.outcome == UsageRecord.Outcome.COMPLETE
    assert streamed.ttft_ms is not None


def test_the_plaintext_key_is_stored_nowhere(api, owner):
    token = key_for(owner)
    post(api, "chat/completions", chat(max_tokens=2), token)
    usage_settled(owner, 1)
    secret = token.split("_", 2)[2]
    for row in ApiKey.objects.filter(user=owner).values():
        assert token not in str(row) and secret not in str(row)
    for row in UsageRecord.objects.filter(user=owner).values():
        assert token not in str(row) and secret not in str(row)
