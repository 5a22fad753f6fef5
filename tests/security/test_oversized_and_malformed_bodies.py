"""Oversized and malformed input: a clean 4xx, never a 500 and never a crashed consumer.

/v1 is driven on the real Daphne of tests/gateway/api_support.py (body cap 4096 bytes), so
what is measured is what a client on the network gets: 413 for a body over the cap, 400 for
anything that is not a JSON object of the right types, both in OpenAI's error shape. The
site's forms get Django's upload limits, and the chat socket its frame cap.
"""

from __future__ import annotations

import json

import httpx
import pytest
from django.test import Client

from tests.chat.conftest import signed_in
from tests.gateway.api_support import FAST, bearer, key_for

LONG = 60  # seconds: the read timeout of one request, never a sleep


def _assert_openai_error(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.fixture
def post(api, transactional_db, owner):
    token = key_for(owner)

    with httpx.Client(base_url=api.v1, headers=bearer(token), timeout=LONG) as client:

        def send(content, *, path: str = "chat/completions") -> httpx.Response:
            headers = {"Content-Type": "application/json"}
            return client.post(f"/{path}", content=content, headers=headers)

        yield send


MALFORMED = [
    b"",
    b"not json",
    b"{",
    b'{"model": "x",}',
    b"[]",
    b"null",
    b"42",
    b'"a string"',
    b"\xff\xfe{}",  # not UTF-8 at all
    b'{"model": "\xc3\x28"}',  # an invalid two-byte sequence inside a string
    b'{"model": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
    b'{"model": "a\x00b"}',  # a raw control character inside a string
    b"NaN",
    b'{"model": NaN}',
    b"\xef\xbb\xbf" + b"{}",  # a BOM
]


def test_v1_answers_malformed_json_with_a_400_in_openais_shape(post):
    for number, body in enumerate(MALFORMED):
        path = ("chat/completions", "completions", "embeddings")[number % 3]
        error = _assert_openai_error(post(body, path=path), 400)
        assert error["type"] == "invalid_request_error", (body, path)


def test_v1_answers_deep_nesting_with_a_400_not_a_crash(post):
    # Python's json raises RecursionError (not ValueError) past ~1000 levels: that once
    # escaped as a 500.
    for depth in (1_500, 2_000):
        for body in ("[" * depth + "]" * depth, "[" * depth + "{}" + "]" * depth):
            _assert_openai_error(post(body.encode(), path="chat/completions"), 400)
            _assert_openai_error(post(body.encode(), path="embeddings"), 400)
    # Nested inside a valid request, deeper than the JSON writer that forwards it accepts
    # (orjson stops at 255) and deeper than the reader (Python's json, ~1000).
    for depth in (300, 1_500):
        content = "[" * depth + "]" * depth
        body = f'{{"model": "{FAST}", "messages": [{{"role": "user", "content": {content}}}]}}'
        answer = post(body.encode())
        # Forwarded (a worker judges the content) or refused: never a 500.
        assert answer.status_code in {200, 400}, answer.text[:300]
        if answer.status_code == 400:
            _assert_openai_error(answer, 400)


WRONG_TYPES = [
    {"model": 1, "messages": [{"role": "user", "content": "hi"}]},
    {"model": ["a"], "messages": [{"role": "user", "content": "hi"}]},
    {"model": FAST, "messages": "hi"},
    {"model": FAST, "messages": {"role": "user"}},
    {"model": FAST, "messages": [None]},
    {"model": FAST, "messages": [{"role": 5, "content": "hi"}]},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "stream": "yes"},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "n": "2"},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "n": 1.5},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "n": True},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "tools": "x"},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "stream_options": {}},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "stop": 5},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "stop": [1, 2]},
    {"model": FAST, "messages": [{"role": "user", "content": "hi"}], "top_logprobs": "3"},
]


def test_v1_answers_wrong_types_with_a_400(post):
    for body in WRONG_TYPES:
        _assert_openai_error(post(json.dumps(body).encode()), 400)
    for body in [{"model": FAST, "prompt": 5}, {"model": FAST, "prompt": [None]}]:
        _assert_openai_error(post(json.dumps(body).encode(), path="completions"), 400)
    for body in [{"model": FAST, "input": {"a": 1}}, {"model": FAST, "input": [1.5]}]:
        _assert_openai_error(post(json.dumps(body).encode(), path="embeddings"), 400)


def test_v1_answers_a_body_over_the_cap_with_a_413_declared_or_not(post):
    huge = json.dumps(
        {"model": FAST, "messages": [{"role": "user", "content": "x" * 100_000}]}
    ).encode()
    error = _assert_openai_error(post(huge), 413)
    assert error["code"] == "request_too_large"

    def chunks():
        yield huge[:1000]
        yield huge[1000:]

    # Chunked: no Content-Length to trust.
    _assert_openai_error(post(chunks()), 413)


def test_v1_answers_a_long_model_name_or_string_with_a_400(post):
    long_model = {"model": "m" * 3000, "messages": [{"role": "user", "content": "hi"}]}
    _assert_openai_error(post(json.dumps(long_model).encode()), 400)
    unknown = {"model": "\u202e" * 50 + "<script>", "messages": [{"role": "user", "content": "h"}]}
    error = _assert_openai_error(post(json.dumps(unknown).encode()), 404)
    assert error["code"] == "model_not_found"


@pytest.mark.django_db
def test_site_forms_refuse_huge_fields_with_a_400_not_a_500(owner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    huge = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    assert client.post("/datasets/", {"name": huge, "description": huge}).status_code == 400
    many = {f"f{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    assert client.post("/datasets/", many).status_code == 400
    anonymous = Client(raise_request_exception=False)
    assert anonymous.post("/accounts/login/", {"login": huge, "password": huge}).status_code in {
        400,
        403,  # no CSRF token: refused before the body matters
    }
    # Long but under the limits: cut to what the column holds, never a database error.
    answer = client.post("/datasets/", {"name": "n" * 5000, "description": "d"})
    assert answer.status_code == 302
    assert len(owner.datasets_owned.get().name) == 200


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_frame_over_the_cap_is_refused_and_the_socket_lives(
    owner, settings, no_leftover_generations
):
    settings.AIPORTAL_MAX_MESSAGE_CHARS = 1000
    async with signed_in(owner) as socket:
        too_big = json.dumps({"type": "chat.send", "conversation": None, "content": "x" * 20_000})
        await socket.send(too_big)
        frame = await socket.receive()
        assert (frame["type"], frame["code"]) == ("message.error", "too_long")
        await socket.send("[" * 5000 + "]" * 5000)
        assert (await socket.receive())["code"] == "bad_request"
        await socket.comm.send_to(bytes_data=b"\x00" * 10_000)
        assert (await socket.receive())["code"] == "bad_request"
        await socket.send({"type": "ping"})
        assert (await socket.receive())["type"] == "pong"


DEEP = b"[" * 50_000 + b"]" * 50_000


@pytest.mark.django_db
def test_the_sites_json_endpoints_answer_deep_nesting_with_a_400(owner):
    from chat import services

    client = Client(raise_request_exception=False)
    client.force_login(owner)
    conversation = services.conversation_create(user=owner, title="Kept")
    for path in (
        f"/api/conversations/{conversation.pk}/rename/",
        f"/api/conversations/{conversation.pk}/pin/",
        f"/c/{conversation.pk}/settings/",
    ):
        for body in (DEEP, b'{"title": ' + DEEP + b"}", b"\xff\xfe", b"[1, 2]"):
            answer = client.post(path, body, content_type="application/json")
            assert answer.status_code == 400, (path, body[:10], answer.status_code)
    conversation.refresh_from_db()
    assert conversation.title == "Kept"


@pytest.mark.django_db
def test_an_uploaded_document_nested_too_deeply_is_one_error_not_a_failed_refill(
    owner, dataset, upload, refill_now
):
    from datasets.models import RefillJob

    # Parses, and then is too deep for the walk that turns JSON into lines.
    shallow_but_deep_for_a_walker = "[" * 990 + "]" * 990
    upload(
        dataset,
        {
            "deep.json": DEEP,
            "deep.jsonl": b'{"a": 1}\n' + DEEP + b"\n",
            "walker.json": shallow_but_deep_for_a_walker,
            "fine.txt": "A fine document next to them.",
        },
    )
    job = refill_now(dataset)
    assert job.status == RefillJob.Status.SUCCEEDED, job.message
    errors = {error["key"]: error["message"] for error in job.errors}
    assert set(errors) == {"upload:deep.json", "upload:deep.jsonl", "upload:walker.json"}
    assert all("nested too deeply" in message for message in errors.values()), errors
    keys = set(dataset.active_version.entries.values_list("key", flat=True))
    assert keys == {"upload:fine.txt"}
