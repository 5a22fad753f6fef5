"""/v1 relays a worker's in-stream rejection (an error frame with a 4xx code) as an
OpenAI-shaped error: the HTTP status itself before any output, an error frame after."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.gateway.api_support import FAST, bearer, chat, fast_passwords, key_for

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)
REJECTED = "The request was rejected while generating."


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


def _faults(url: str, **faults) -> None:
    httpx.post(f"{url}/emulator/faults", json={"times": 1, **faults}, timeout=5).raise_for_status()


def _stream(api, token: str) -> tuple[int, list[str]]:
    body = chat(model=FAST, stream=True)
    with httpx.stream(
        "POST", f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20
    ) as response:
        lines = [line.removeprefix("data: ") for line in response.iter_lines() if line]
        return response.status_code, lines


def test_a_rejection_before_any_output_is_its_status_in_openai_shape(api, owner):
    token = key_for(owner)
    _faults(api.workers[FAST], fail_before_first_token=True, error_code=400)
    status, lines = _stream(api, token)
    assert status == 400
    error = json.loads("".join(lines))["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["message"], error["code"]) == (REJECTED, "upstream_rejected")


def test_a_rejection_mid_stream_is_an_error_frame_then_done(api, owner):
    token = key_for(owner)
    worker = api.workers[FAST]
    _faults(worker, error_after_tokens=2, error_code=400)
    status, lines = _stream(api, token)
    assert status == 200
    assert lines[-1] == "[DONE]"
    error = json.loads(lines[-2])["error"]
    assert (error["message"], error["code"]) == (REJECTED, "upstream_rejected")
    assert any("content" in line for line in lines[:-2])
