"""vLLM 0.34's X-Request-Id, as with --enable-request-id-headers: echoed on every response
(a new uuid4 hex when the request brings none) and the prefix of the answer's id."""

from __future__ import annotations

import re

from tests.emulator.helpers import chat_body, state


async def test_the_clients_id_is_echoed_and_names_the_answer(url, client):
    response = await client.post(
        f"{url}/v1/chat/completions", json=chat_body(), headers={"X-Request-Id": "abc-1"}
    )
    assert response.headers["X-Request-Id"] == "abc-1"
    assert response.json()["id"] == "chatcmpl-abc-1"
    completion = await client.post(
        f"{url}/v1/completions",
        json={"model": chat_body()["model"], "prompt": "Hi", "max_tokens": 2},
        headers={"X-Request-Id": "abc-2"},
    )
    assert completion.json()["id"] == "cmpl-abc-2"
    assert (await state(client, url))["request_ids"] == ["abc-1", "abc-2"]


async def test_without_an_id_every_response_gets_a_new_one(url, client):
    response = await client.get(f"{url}/v1/models")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])
    missing = await client.post(f"{url}/v1/chat/completions", json={"model": "nope"})
    assert missing.status_code >= 400 and missing.headers["X-Request-Id"]
