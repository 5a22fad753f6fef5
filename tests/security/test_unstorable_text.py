"""Text the database cannot store — the NUL character, lone UTF-16 surrogates — gets a clear
4xx at every door, never a 500, on PostgreSQL (whose text columns refuse NUL outright).

One validator (common/text.py) serves every door: a middleware for every query string and
form field of the site (allauth's and the admin's pages included), ``json_body`` for the
site's JSON views, the ``/v1`` body parser, and the chat socket's frame parser. The tests
walk every URL pattern of the URLconf with a NUL in the query string and in a form, every
JSON endpoint and every socket frame kind with both kinds of bad text, and name the seven
places an outside tester found answering 500.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client

from chat import services
from datasets.services import dataset_create
from tests.chat.conftest import send_frame, signed_in
from tests.security import test_idor
from tests.security.test_cross_site_actions import _paths
from tests.security.test_idor import URLS

world = test_idor.world  # the IDOR suite's owner with one object of every kind

NUL = "a\x00b"
SURROGATE = "a\ud800b"  # as JSON carries it: "a\\ud800b"
# Every name a form of the site reads text from (datasets, grants, allauth, the admin's search).
FORM_FIELDS = [
    "name", "description", "allowed_regions", "who", "level", "title", "q", "login", "email",
    "password", "password1", "password2", "confirm_name", "confirm_email", "urls", "url",
    "root", "path", "kind", "code", "username", "next",
]  # fmt: skip


def _client(user) -> Client:
    client = Client(raise_request_exception=False)  # a 500 is an answer here, not a crash
    client.force_login(user)
    return client


def test_this_runs_on_postgresql():
    assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_the_seven_places_found_answer_400(owner):
    client = _client(owner)
    conversation = services.conversation_create(user=owner, title="Plans")
    dataset = dataset_create(user=owner, name="Handbook")
    answers = {
        "search": client.get("/api/conversations/", {"q": NUL}),
        "title": client.post(
            f"/api/conversations/{conversation.pk}/rename/",
            json.dumps({"title": NUL}),
            content_type="application/json",
        ),
        "model": client.post(
            f"/c/{conversation.pk}/settings/",
            json.dumps({"model": NUL}),
            content_type="application/json",
        ),
        "dataset name": client.post("/datasets/", {"name": NUL, "description": "d"}),
        "dataset description": client.post("/datasets/", {"name": "n", "description": NUL}),
        "grant email": client.post(
            f"/datasets/{dataset.pk}/grants/", {"who": f"x{NUL}@example.com", "level": "10"}
        ),
        "grant group": client.post(f"/datasets/{dataset.pk}/grants/", {"who": NUL, "level": "10"}),
    }
    statuses = {place: answer.status_code for place, answer in answers.items()}
    assert statuses == dict.fromkeys(answers, 400)
    assert "NUL" in answers["search"].json()["detail"]
    assert "NUL" in answers["dataset name"].content.decode()  # a page that says why


@pytest.mark.django_db
def test_every_url_refuses_a_nul_in_its_query_string_and_its_form(world, owner):
    client = _client(owner)
    paths = [(name, path) for name, path in _paths(world) if not path.startswith("/v1/")]
    assert len(paths) > 50
    form = dict.fromkeys(FORM_FIELDS, NUL)
    answers = []
    for name, path in paths:
        answers.append((name, "GET", client.get(path, {"q": NUL}).status_code))
        answers.append((name, "POST", client.post(path, form).status_code))
    assert [a for a in answers if a[2] != 400] == []


@pytest.mark.django_db
def test_every_json_endpoint_refuses_unstorable_text(world, owner):
    client = _client(owner)
    json_urls = {name: case for name, case in URLS.items() if case[0] == "JSON"}
    assert len(json_urls) >= 5
    for bad in (NUL, SURROGATE):
        for name, (_, path, data) in json_urls.items():
            # Every field the endpoint takes, and a field it does not know, with bad text.
            for body in ({key: bad for key in data} or {"x": bad}, {bad: "x"}):
                raw = json.dumps(body)  # lone surrogates escaped as \ud800: valid JSON
                answer = client.post(path(world), raw, content_type="application/json")
                assert 400 <= answer.status_code < 500, (name, body, answer.status_code)


@pytest.mark.django_db(transaction=True)
async def test_every_socket_frame_kind_refuses_unstorable_text(owner, no_leftover_generations):
    frames = [
        send_frame(NUL),
        send_frame("fine", model=NUL),
        send_frame("fine", client_id=NUL),
        {"type": "chat.stop", "message": 1, NUL: 1},
        {"type": "chat.regenerate", "message": 1, "model": SURROGATE},
        {"type": "chat.resume", "message": 1, "after_seq": 0, "x": [SURROGATE]},
        {"type": NUL},
    ]
    async with signed_in(owner) as socket:
        for frame in [*frames, send_frame(SURROGATE)]:
            await socket.send(json.dumps(frame))
            answer = await socket.receive()
            assert (answer["type"], answer["code"]) == ("error", "bad_request"), frame
        await socket.send({"type": "ping"})
        assert (await socket.receive())["type"] == "pong"


def test_v1_refuses_unstorable_text_in_openais_shape(api, transactional_db, owner):
    import httpx

    from tests.gateway.api_support import bearer, key_for

    token = key_for(owner)
    with httpx.Client(base_url=api.v1, headers=bearer(token), timeout=60) as client:
        for bad in (NUL, SURROGATE):
            for path, body in (
                (
                    "/chat/completions",
                    {"model": bad, "messages": [{"role": "user", "content": "hi"}]},
                ),
                (
                    "/chat/completions",
                    {"model": "m", "messages": [{"role": "user", "content": bad}]},
                ),
                ("/completions", {"model": "m", "prompt": bad}),
                ("/embeddings", {"model": bad, "input": "hi"}),
                ("/embeddings", {"model": "m", "input": [bad]}),
            ):
                answer = client.post(
                    path, content=json.dumps(body), headers={"Content-Type": "application/json"}
                )
                assert answer.status_code == 400, (path, body, answer.text[:200])
                assert answer.json()["error"]["code"] == "invalid_text"


def test_a_real_daphne_refuses_it_too(daphne_url):
    # The middleware's other half: under ASGI the query string is read on the loop and a
    # form in a thread.
    import httpx

    with httpx.Client(base_url=daphne_url, timeout=30) as client:
        search = client.get("/api/conversations/", params={"q": NUL})
        sign_in = client.post("/accounts/login/", data={"login": NUL, "password": "x"})
        json_body = client.post(
            "/api/conversations/1/rename/",
            content=json.dumps({"title": SURROGATE}),
            headers={"Content-Type": "application/json"},
        )
    assert (search.status_code, sign_in.status_code, json_body.status_code) == (400, 400, 400)
    assert "NUL" in sign_in.text
