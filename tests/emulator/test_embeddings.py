"""POST /v1/embeddings: vLLM's response shape, deterministic unit vectors in which texts
sharing words are close, its errors."""

from __future__ import annotations

import base64
import math
import struct

import httpx

from gateway.emulator.embedding_features import text_words
from gateway.emulator.embeddings import embedding_vector

from .helpers import MODEL


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def cosine(one: str, other: str, *, model: str = MODEL) -> float:
    # Unit vectors: the dot product is the cosine.
    return sum(
        a * b
        for a, b in zip(
            embedding_vector(model, one, 384), embedding_vector(model, other, 384), strict=True
        )
    )


QUERY = "how do I configure the database"


def test_texts_sharing_words_are_clearly_closer_than_unrelated_ones():
    related = cosine(QUERY, "database configuration settings")
    unrelated = cosine(QUERY, "the weather in Paris is mild in spring")
    assert related > 0.4
    assert abs(unrelated) < 0.15
    assert related > unrelated + 0.3


def test_word_forms_meet_and_stop_words_do_not_make_texts_close():
    assert text_words("Configuring the databases") == text_words("configured database")
    # Sharing only "how do I" (stop words) is no likeness.
    assert abs(cosine(QUERY, "how do I bake bread")) < 0.2
    # A typo stays near its word through the character n-grams.
    typo = cosine("postgresql replication", "postgresq replicaton")
    assert typo > 0.25
    assert typo > cosine("postgresql replication", "the weather in Paris") + 0.2


def test_a_text_without_words_gets_one_fixed_unit_vector_per_model():
    empty = embedding_vector(MODEL, "", 384)
    assert empty == embedding_vector(MODEL, "  ...  ", 384)
    assert abs(norm(empty) - 1.0) < 1e-5
    assert empty != embedding_vector("another-model", "", 384)


def test_another_model_name_gives_unrelated_vectors():
    assert abs(cosine(QUERY, QUERY, model=MODEL) - 1.0) < 1e-5
    mixed = sum(
        a * b
        for a, b in zip(
            embedding_vector(MODEL, QUERY, 384),
            embedding_vector("another-model", QUERY, 384),
            strict=True,
        )
    )
    assert abs(mixed) < 0.3


async def test_an_embedding_answer_has_vllm_shape_and_unit_vectors(client, url):
    response = await client.post(
        url + "/v1/embeddings", json={"model": MODEL, "input": ["first text", "second one"]}
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "object", "created", "model", "data", "usage"}
    assert body["id"].startswith("embd-")
    assert body["object"] == "list"
    assert body["model"] == MODEL
    assert [item["index"] for item in body["data"]] == [0, 1]
    for item in body["data"]:
        assert item["object"] == "embedding"
        assert len(item["embedding"]) == 384
        assert abs(norm(item["embedding"]) - 1.0) < 1e-5
    assert body["data"][0]["embedding"] != body["data"][1]["embedding"]
    usage = body["usage"]
    assert usage["completion_tokens"] == 0
    assert usage["prompt_tokens"] == usage["total_tokens"] == 4  # "first"," text","second"," one"
    # vLLM 0.34's UsageInfo dumped whole, prompt_tokens_details dropped when None.
    assert usage["completion_tokens_details"] is None
    assert "prompt_tokens_details" not in usage


async def test_the_same_input_gives_the_same_vector_on_every_emulator(client, start_emulator):
    one, other = await start_emulator(), await start_emulator(region="elsewhere")
    body = {"model": MODEL, "input": "a sentence to embed"}
    first = (await client.post(one + "/v1/embeddings", json=body)).json()
    second = (await client.post(other + "/v1/embeddings", json=body)).json()
    assert first["data"][0]["embedding"] == second["data"][0]["embedding"]
    assert first["data"][0]["embedding"] == embedding_vector(MODEL, "a sentence to embed", 384)


async def test_the_state_lists_the_inputs_of_each_embedding_request_answered(client, url):
    for inputs in (["one", "two", "three"], ["four"]):
        await client.post(url + "/v1/embeddings", json={"input": inputs})
    await client.post(url + "/v1/embeddings", json={"input": []})  # a 400 answers nothing
    state = (await client.get(url + "/emulator/state")).json()
    assert state["embedding_batches"] == [3, 1]


async def test_base64_is_little_endian_float32_of_the_same_vector(client, url):
    text = {"model": MODEL, "input": "encode me"}
    floats = (await client.post(url + "/v1/embeddings", json=text)).json()
    packed = (
        await client.post(url + "/v1/embeddings", json={**text, "encoding_format": "base64"})
    ).json()
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert len(raw) == 4 * 384
    assert list(struct.unpack("<384f", raw)) == floats["data"][0]["embedding"]


async def test_the_dimension_is_configurable_and_dimensions_shortens_it(client, start_emulator):
    url = await start_emulator(embedding_dim=64)
    text = "a sentence long enough to fill the first eight numbers"
    full = (await client.post(url + "/v1/embeddings", json={"input": text})).json()
    short = (
        await client.post(url + "/v1/embeddings", json={"input": text, "dimensions": 8})
    ).json()
    assert len(full["data"][0]["embedding"]) == 64
    vector = short["data"][0]["embedding"]
    assert len(vector) == 8 and abs(norm(vector) - 1.0) < 1e-5
    # Matryoshka style: the short vector points where the long one's head does.
    head = full["data"][0]["embedding"][:8]
    assert all(abs(a / norm(head) - b) < 1e-5 for a, b in zip(head, vector, strict=True))


async def test_token_id_inputs_count_one_token_per_id(client, url):
    response = await client.post(url + "/v1/embeddings", json={"input": [[1, 2, 3], [4, 5]]})
    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] == 5


async def test_bad_inputs_are_400_and_an_unknown_model_404_in_vllm_shape(client, url):
    for body in (
        {"input": []},
        {"input": 3},
        {"input": [{"x": 1}]},
        {"input": "x", "dimensions": 0},
    ):
        response = await client.post(url + "/v1/embeddings", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == 400
    response = await client.post(url + "/v1/embeddings", json={"model": "nope", "input": "x"})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFoundError"
    assert response.json()["error"]["param"] == "model"
    response = await client.post(
        url + "/v1/embeddings", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_an_input_beyond_the_context_length_is_refused(client, start_emulator):
    url = await start_emulator(max_model_len=16)
    response = await client.post(url + "/v1/embeddings", json={"input": "word " * 40})
    assert response.status_code == 400
    assert "maximum context length is 16 tokens" in response.json()["error"]["message"]


async def test_request_faults_apply_to_embeddings(client, url):
    await client.post(url + "/emulator/faults", json={"status_503": True, "times": 1})
    refused = await client.post(url + "/v1/embeddings", json={"input": "x"})
    assert refused.status_code == 503
    await client.post(url + "/emulator/faults", json={"die_after_tokens": 0, "times": 1})
    try:
        died = await client.post(url + "/v1/embeddings", json={"input": "x"})
    except httpx.RemoteProtocolError:
        died = None
    assert died is None  # the connection closed with no response, as a crashed worker's
    assert (await client.post(url + "/v1/embeddings", json={"input": "x"})).status_code == 200
