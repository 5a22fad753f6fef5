"""Fuzzing /v1: whatever body, path or credential a client sends, the answer is a 4xx in
OpenAI's error shape, never a 500.

On the real Daphne of tests/gateway/api_support.py. Hypothesis writes JSON bodies from the
endpoints' own field names (allowed, refused and ignored ones) with values of every JSON
type, bytes that are not JSON, paths under /v1/ and Authorization headers. The model is
never one a worker serves, so no fuzzed request reaches a worker (tests/gateway covers what
happens upstream) and none leaves a usage record behind.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.api.validation import (
    CHAT_FIELDS,
    COMPLETION_FIELDS,
    EMBEDDING_FIELDS,
    IGNORED,
    REFUSED,
    RESPONSES_FIELDS,
)
from tests.gateway.api_support import bearer, key_for

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = sorted(
    CHAT_FIELDS | COMPLETION_FIELDS | EMBEDDING_FIELDS | RESPONSES_FIELDS | IGNORED | REFUSED
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
# Never a served model: "fuzz-" names, or no model at all.
MODEL = st.text(max_size=20).map(lambda text: "fuzz-" + text) | VALUES
BODY = st.builds(
    lambda model, fields: {"model": model, **fields},
    MODEL,
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), VALUES, max_size=6).map(
        lambda fields: {k: v for k, v in fields.items() if k != "model"}
    ),
)
ENDPOINT = st.sampled_from(["chat/completions", "completions", "embeddings", "responses"])
FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _openai_error(answer: httpx.Response) -> None:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}


@pytest.fixture
def client(api, owner):
    with httpx.Client(base_url=api.v1, headers=bearer(key_for(owner)), timeout=60) as client:
        yield client


def test_fuzzed_json_bodies_get_a_4xx_in_openais_shape(client):
    @FUZZ
    @given(ENDPOINT, BODY, st.booleans())
    def check(endpoint, body, stream):
        if stream and isinstance(body, dict):
            body["stream"] = True
        _openai_error(client.post(f"/{endpoint}", json=body))

    check()


def test_fuzzed_bytes_get_a_4xx_in_openais_shape(client):
    @FUZZ
    @given(ENDPOINT, st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
    def check(endpoint, raw):
        answer = client.post(
            f"/{endpoint}", content=raw, headers={"Content-Type": "application/json"}
        )
        _openai_error(answer)

    check()


def test_fuzzed_paths_and_credentials_never_get_a_500(api):
    path_text = st.text(alphabet=st.characters(codec="ascii", exclude_characters="?#"), max_size=30)

    @FUZZ
    @given(
        path_text,
        st.text(alphabet=st.characters(codec="latin-1", exclude_categories=["Cc"]), max_size=60),
    )
    def check(path, authorization):
        value = authorization.strip(" \t").encode("latin-1")
        headers = {"Authorization": value} if value else {}
        try:
            answer = httpx.get(f"{api.v1}/{path}", headers=headers, timeout=60)
        except (httpx.InvalidURL, httpx.LocalProtocolError):
            return  # not a request a client library can send at all
        assert answer.status_code < 500, (path, authorization, answer.status_code)
        if answer.headers.get("content-type", "").startswith("application/json"):
            assert "error" in answer.json()

    check()
