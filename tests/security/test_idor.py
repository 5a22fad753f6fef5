"""Insecure direct object references: another person's id gives a 404, on every URL that
takes one, exactly as an id that does not exist.

``URLS`` has a case for every URL pattern with a converter in it; the first test collects
the patterns with django.urls and fails when one has no case, so a new view that takes an
id cannot land without saying how an outsider is kept out of it. Each case is requested by
an outsider (404) and then by the owner (anything but 404: the control that makes the first
request mean something). Websocket frames take ids too (messages, conversations): the last
tests send the owner's ids on the outsider's socket.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.privacy.export import data_export_build, data_export_request
from assistants.models import Level as AssistantLevel
from assistants.services import assistant_create, assistant_grant_add
from chat import services
from chat.services.attachments import attachment_upload, attachments_bind
from chat.services.conversations import conversation_share_create
from datasets.models import Level
from datasets.privacy import dataset_export_request
from datasets.services import grant_set
from gateway.keys import apikey_create
from prompts.services import prompt_create
from tests.accounts.mfa_fixtures import cookie_for
from tests.chat.attachment_files import make_png

pytestmark = pytest.mark.django_db


@dataclass
class World:
    conversation: Any
    answer: Any
    token: str
    dataset: Any
    source: Any
    grant: Any
    job: Any
    chunk: Any
    key: Any
    other_dataset: Any  # the outsider's own, for URLs that pair two ids
    export: Any  # a built "export my data" archive
    dataset_export: Any  # a built export of the dataset
    usersession: Any  # a second signed-in session of the owner's (the sessions page)
    assistant: Any
    assistant_grant: Any  # to a group neither the member nor the outsider is in
    prompt: Any  # a saved prompt of the owner's, shared read-only with the member's group
    other_prompt: Any  # another, private: the two delete URLs need one each
    attachment: Any  # an image sent with the conversation's question


@pytest.fixture
def world(owner, member, outsider, dataset, upload, refill_now) -> World:
    from datasets.services import dataset_create

    conversation = services.conversation_create(user=owner, title="Private plans")
    question, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="The secret plan", model=""
    )
    attachment = attachment_upload(user=owner, name="plan.png", chunks=[make_png()])
    attachments_bind(user=owner, ids=[attachment.pk], conversation=conversation, message=question)
    services.message_finish(
        message_id=answer.pk, content="Private answer", last_seq=1, status="complete"
    )
    token = conversation_share_create(user=owner, id=conversation.pk)
    source = upload(dataset, {"plan.txt": "The zebrafish plan, in detail."})
    job = refill_now(dataset)
    chunk = dataset.active_version.entries.get().document.chunks.first()
    grant = grant_set(dataset=dataset, user=owner, level=Level.VIEW, for_user=member)
    key, _ = apikey_create(user=owner, name="zebra-laptop")
    other = dataset_create(user=outsider, name="Outsider's own")
    export = data_export_request(user=owner)
    data_export_build(export_id=export.pk)
    dataset_export = dataset_export_request(user=owner, dataset=dataset)
    data_export_build(export_id=dataset_export.pk)
    _, phone = cookie_for(owner, user_agent="the owner's phone")
    assistant = assistant_create(user=owner, name="Secret helper", system_prompt="Be secret.")
    assistant_grant = assistant_grant_add(
        assistant=assistant,
        user=owner,
        for_group=Group.objects.create(name="writers"),
        level=AssistantLevel.USE,
    )
    team = Group.objects.create(name="Owner and member")
    owner.groups.add(team)
    member.groups.add(team)
    prompt = prompt_create(
        user=owner, title="Secret prompt", command="secret", body="b", groups=[team.pk]
    )
    return World(
        conversation=conversation,
        answer=answer,
        token=token,
        dataset=dataset,
        source=source,
        grant=grant,
        job=job,
        chunk=chunk,
        key=key,
        other_dataset=other,
        export=export,
        dataset_export=dataset_export,
        usersession=UserSession.objects.get(session_key=phone),
        assistant=assistant,
        assistant_grant=assistant_grant,
        prompt=prompt,
        other_prompt=prompt_create(user=owner, title="Diary", command="diary", body="b"),
        attachment=attachment,
    )


def _upload_file() -> dict:
    new = io.BytesIO(b"new words")
    new.name = "new.txt"
    return {"files": [new]}


# name → (method, path from the world, form data). Order matters only for the owner's pass:
# what removes or revokes comes after what reads.
URLS: dict[str, tuple[str, Any, Any]] = {
    "chat:conversation": ("GET", lambda w: f"/c/{w.conversation.pk}/", None),
    "chat:export_markdown": ("GET", lambda w: f"/c/{w.conversation.pk}/export.md", None),
    "chat:attachment": ("GET", lambda w: f"/chat/attachments/{w.attachment.pk}/", None),
    "chat:attachment_thumb": (
        "GET",
        lambda w: f"/chat/attachments/{w.attachment.pk}/thumb/",
        None,
    ),
    "chat:export_json": ("GET", lambda w: f"/c/{w.conversation.pk}/export.json", None),
    "chat:thread_messages": (
        "GET",
        lambda w: f"/c/{w.conversation.pk}/messages/?ids={w.answer.pk}",
        None,
    ),
    "chat:thread_settings": ("JSON", lambda w: f"/c/{w.conversation.pk}/settings/", {"model": ""}),
    "chat:api_rename": (
        "JSON",
        lambda w: f"/api/conversations/{w.conversation.pk}/rename/",
        {"title": "Renamed"},
    ),
    "chat:api_pin": (
        "JSON",
        lambda w: f"/api/conversations/{w.conversation.pk}/pin/",
        {"pinned": True},
    ),
    "chat:api_share": ("JSON", lambda w: f"/api/conversations/{w.conversation.pk}/share/", {}),
    "chat:api_share_revoke": (
        "JSON",
        lambda w: f"/api/conversations/{w.conversation.pk}/share/revoke/",
        {},
    ),
    "chat:api_delete": ("JSON", lambda w: f"/api/conversations/{w.conversation.pk}/delete/", {}),
    "chat:api_restore": (
        "JSON",
        lambda w: f"/api/conversations/{w.conversation.pk}/restore/",
        {},
    ),
    "datasets:detail": ("GET", lambda w: f"/datasets/{w.dataset.pk}/", None),
    "datasets:export_download": (
        "GET",
        lambda w: f"/datasets/{w.dataset.pk}/exports/{w.dataset_export.pk}.zip",
        None,
    ),
    "datasets:export": ("POST", lambda w: f"/datasets/{w.dataset.pk}/export/", {}),
    "datasets:api_job": ("GET", lambda w: f"/datasets/api/jobs/{w.job.pk}/", None),
    "datasets:api_chunk": ("GET", lambda w: f"/datasets/api/chunks/{w.chunk.pk}/", None),
    "datasets:upload": ("POST", lambda w: f"/datasets/{w.dataset.pk}/upload/", _upload_file),
    "datasets:source_add": (
        "POST",
        lambda w: f"/datasets/{w.dataset.pk}/sources/",
        {"kind": "urls", "urls": "https://example.com/a"},
    ),
    "datasets:grant_add": (
        "POST",
        lambda w: f"/datasets/{w.dataset.pk}/grants/",
        {"who": "outsider@example.com", "level": "10"},
    ),
    "datasets:refill": ("POST", lambda w: f"/datasets/{w.dataset.pk}/refill/", {}),
    "datasets:job_cancel": ("POST", lambda w: f"/datasets/jobs/{w.job.pk}/cancel/", {}),
    "datasets:delete": (
        "POST",
        lambda w: f"/datasets/{w.dataset.pk}/delete/",
        {"confirm_name": ""},
    ),
    "datasets:grant_revoke": (
        "POST",
        lambda w: f"/datasets/{w.dataset.pk}/grants/{w.grant.pk}/revoke/",
        {},
    ),
    "datasets:source_remove": (
        "POST",
        lambda w: f"/datasets/{w.dataset.pk}/sources/{w.source.pk}/remove/",
        {},
    ),
    "assistants:detail": ("GET", lambda w: f"/assistants/{w.assistant.pk}/", None),
    "assistants:api_detail": ("GET", lambda w: f"/assistants/api/{w.assistant.pk}/", None),
    "assistants:grant_add": (
        "POST",
        lambda w: f"/assistants/{w.assistant.pk}/grants/",
        {"who": "outsider@example.com", "level": "10"},
    ),
    "assistants:grant_remove": (
        "POST",
        lambda w: f"/assistants/{w.assistant.pk}/grants/{w.assistant_grant.pk}/remove/",
        {},
    ),
    "assistants:delete": ("POST", lambda w: f"/assistants/{w.assistant.pk}/delete/", {}),
    "apikeys:revoke": ("POST", lambda w: f"/settings/keys/{w.key.pk}/revoke", {}),
    "usersession_end": ("POST", lambda w: f"/accounts/sessions/{w.usersession.pk}/end", {}),
    # The member sees the prompt (shared with their group) and still may not change it.
    "prompts:edit": ("GET", lambda w: f"/prompts/{w.prompt.pk}/edit/", None),
    "prompts:api_update": ("JSON", lambda w: f"/prompts/api/{w.prompt.pk}/update/", {"title": "X"}),
    "prompts:delete": ("POST", lambda w: f"/prompts/{w.other_prompt.pk}/delete/", {}),
    "prompts:api_delete": ("JSON", lambda w: f"/prompts/api/{w.prompt.pk}/delete/", {}),
    "settings:data_export_download": (
        "POST",
        lambda w: f"/settings/data/export/{w.export.pk}/download",
        {},
    ),
}

# Patterns with a converter that name no object a person owns, and where they are covered.
NOT_OWNED = {
    # The token is the capability: anyone who holds it may read (test_share_links_below).
    "chat:shared": "a share link's token",
    # The same, for the attachments of the shared branch (tests/security/test_attachment_idor.py).
    "chat:shared_attachment": "a share link's token",
    "chat:shared_attachment_thumb": "a share link's token",
    # The same: an invitation's token is the capability (tests/accounts/test_signup_policy.py).
    "accounts_policy:invite": "an invitation's token",
    # Model names, not objects: a model someone may not use answers exactly like one that
    # does not exist (tests/gateway/test_access.py).
    "v1:model": "a model name",
    "v1:<path:rest>": "the catch-all 404 of /v1",
    # A language code and a digest of the scripts' catalogue: the same public texts for
    # everyone (tests/pages/test_js_catalogue.py).
    "js_catalogue_versioned": "a language and the catalogue's digest",
}


def _patterns(resolver=None, prefix: str = "", namespace: str = ""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from _patterns(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern) and entry.pattern.converters:
            name = entry.name or str(entry.pattern)
            yield namespace + name, prefix + str(entry.pattern)


def test_every_url_that_takes_an_id_has_a_case():
    # Django admin's pages are staff-only; their object permissions are Django's own.
    found = {name for name, _ in _patterns() if not name.startswith("admin:")}
    assert found - set(URLS) - set(NOT_OWNED) == set(), "add a case to URLS or NOT_OWNED"
    assert set(URLS) | set(NOT_OWNED) <= found | {"v1:<path:rest>"}


def _request(client: Client, method: str, path: str, data: Any):
    if callable(data):
        data = data()
    if method == "GET":
        return client.get(path)
    if method == "JSON":
        return client.post(path, json.dumps(data), content_type="application/json")
    return client.post(path, data)


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_outsider_gets_a_404_for_every_object_of_someone_else(world, outsider, owner, member):
    for who in (outsider, member):  # member: view level on the dataset, nothing in chat
        client = _as(who)
        leaked = []
        for name, (method, path, data) in URLS.items():
            if who is member and name.startswith("datasets:"):
                continue  # a grantee sees the dataset by design (tests/datasets/test_views.py)
            answer = _request(client, method, path(world), data)
            if answer.status_code != 404:
                leaked.append((name, answer.status_code))
        assert leaked == [], who.email
    # Nothing changed: the outsider's requests wrote nothing.
    world.conversation.refresh_from_db()
    assert world.conversation.title == "Private plans"
    assert world.dataset.sources.count() == 1 and world.dataset.grants.count() == 1
    world.key.refresh_from_db()
    assert world.key.revoked_at is None
    world.assistant.refresh_from_db()
    assert world.assistant.grants.count() == 1
    world.prompt.refresh_from_db()
    assert world.prompt.title == "Secret prompt" and world.other_prompt.pk
    assert type(world.prompt).objects.filter(owner=owner).count() == 2

    owner_client = _as(owner)
    refused = []
    for name, (method, path, data) in URLS.items():
        answer = _request(owner_client, method, path(world), data)
        if answer.status_code == 404:
            refused.append(name)
    assert refused == []


def test_an_id_of_someone_else_paired_with_ones_own_is_still_a_404(world, outsider):
    # /datasets/<mine>/sources/<theirs>/remove/: the second id must belong to the first.
    client = _as(outsider)
    mine = world.other_dataset.pk
    assert client.post(f"/datasets/{mine}/sources/{world.source.pk}/remove/").status_code == 404
    assert client.post(f"/datasets/{mine}/grants/{world.grant.pk}/revoke/").status_code == 404
    assert world.dataset.sources.count() == 1 and world.dataset.grants.count() == 1
    conversation = services.conversation_create(user=outsider, title="Mine")
    answer = client.get(f"/c/{conversation.pk}/messages/?ids={world.answer.pk}")
    assert answer.status_code == 200 and answer.json() == {"messages": []}


def test_lists_show_only_ones_own(world, outsider):
    client = _as(outsider)
    assert "Private plans" not in client.get("/api/conversations/").content.decode()
    assert "zebra-laptop" not in client.get("/settings/keys/").content.decode()
    assert world.dataset.name not in client.get("/datasets/").content.decode()
    picker = client.get("/datasets/api/picker/").json()["datasets"]
    assert world.dataset.pk not in [d["id"] for d in picker]
    assert "Secret helper" not in client.get("/assistants/").content.decode()
    assert client.get("/assistants/api/").json() == {"assistants": []}
    assert "Secret prompt" not in client.get("/prompts/").content.decode()
    assert client.get("/prompts/api/?q=secret").json()["prompts"] == []


def test_share_links_open_only_with_the_live_token(world, outsider):
    client = _as(outsider)
    assert client.get(f"/s/{world.token}/").status_code == 200
    for token in ("x", world.token[:-1], world.token + "x", world.token.upper(), "0" * 43):
        if token != world.token:
            assert client.get(f"/s/{token}/").status_code == 404, token
    _as(world.conversation.owner).post(f"/api/conversations/{world.conversation.pk}/share/revoke/")
    # A link that worked once says it is gone, and shows nothing of the conversation.
    gone = client.get(f"/s/{world.token}/")
    assert gone.status_code == 410 and "Private plans" not in gone.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_refuses_another_persons_message_and_conversation_ids(
    world, outsider, no_leftover_generations
):
    from tests.chat.conftest import signed_in

    frames = [
        {"type": "chat.stop", "message": world.answer.pk},
        {"type": "chat.regenerate", "message": world.answer.pk},
        {"type": "chat.resume", "message": world.answer.pk, "after_seq": 0},
        {"type": "chat.continue", "message": world.answer.pk},
        {"type": "chat.send", "conversation": world.conversation.pk, "content": "mine now"},
        {
            "type": "chat.send",
            "conversation": None,
            "content": "a branch",
            "parent": world.answer.pk,
        },
    ]
    async with signed_in(outsider) as socket:
        for frame in frames:
            await socket.send(frame)
            answer = await socket.receive()
            assert answer["type"] in {"error", "message.error"}, (frame, answer)
            assert "Private answer" not in json.dumps(answer)
            assert "secret plan" not in json.dumps(answer)


def test_ids_past_any_column_are_404s_too(world, owner):
    # Ids beyond a bigint (the URL converters take any digits) must not reach the database
    # as an error.
    from types import SimpleNamespace

    huge = SimpleNamespace(pk=10**30)
    fields = {name: huge for name in World.__dataclass_fields__ if name != "token"}
    nowhere = World(**fields, token="x" * 40)
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    answers = {
        name: _request(client, method, path(nowhere), data).status_code
        for name, (method, path, data) in URLS.items()
    }
    assert {name: status for name, status in answers.items() if status != 404} == {}
