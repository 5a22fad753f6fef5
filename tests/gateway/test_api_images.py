"""``image_url`` content parts through ``/v1/chat/completions``, with the official SDK: passed
on unchanged to a model an admin marked as reading images, refused (400, OpenAI's error
shape) for any other, before anything reaches a worker."""

from __future__ import annotations

import base64
import copy

import openai
import pytest
from openai import OpenAI

from gateway.api.validation import chat_body
from gateway.models import ModelCapability, UsageRecord
from tests.chat.attachment_files import make_png
from tests.gateway.api_support import FAST, SLOW, fast_passwords, key_for, usage_settled

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)

PNG = "data:image/png;base64," + base64.b64encode(make_png()).decode()
WITH_IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": PNG}},
        ],
    }
]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


@pytest.fixture
def client(api, owner) -> OpenAI:
    return OpenAI(base_url=api.v1, api_key=key_for(owner), max_retries=0, timeout=20)


def test_an_image_reaches_a_vision_model(client, owner):
    ModelCapability.objects.create(model=FAST, vision=True)
    answer = client.chat.completions.create(model=FAST, messages=WITH_IMAGE, max_tokens=8)
    assert answer.choices[0].message.content
    (record,) = usage_settled(owner, 1)
    assert record.model == FAST


def test_an_image_to_a_text_only_model_is_refused_before_any_worker(client, owner):
    ModelCapability.objects.create(model=FAST, vision=True)  # another model's flag
    ModelCapability.objects.create(model=SLOW, vision=False)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=SLOW, messages=WITH_IMAGE, max_tokens=8)
    error = refused.value.body
    assert error["code"] == "model_no_images"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages"
    assert f"`{SLOW}` does not accept images" in error["message"]
    assert not UsageRecord.objects.filter(user=owner).exists()


def test_text_only_requests_are_unaffected(client):
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    answer = client.chat.completions.create(model=SLOW, messages=messages, max_tokens=4)
    assert answer.choices[0].message.content


def test_validation_passes_image_parts_on_unchanged():
    body = {"model": FAST, "messages": copy.deepcopy(WITH_IMAGE), "max_tokens": 8}
    assert chat_body(body)["messages"] == WITH_IMAGE
