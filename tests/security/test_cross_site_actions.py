"""Cross-site actions: no page can make a reader's browser act for them.

Anything a browser fetches without being asked — an image in rendered markdown, a prefetch,
a link preview, an ``<img>`` on another site — is a GET with the reader's cookie. So:

- no GET changes a row or queues work: the first tests walk every URL pattern of the URLconf
  (a new one is covered the day it lands) as a signed-in owner with something of every kind,
  and compare every table before and after; the dataset export, which a GET used to build and
  audit, is now a POST that starts a job, and its download a read of the built file;
- rendered content loads no image at all (there are no attachments yet): a model answer with
  ``![x](/datasets/ID/…)`` or an external image makes Chromium send no request for either,
  on the chat page and the share page, and the CSP forbids images outside the static files.

The one write a GET still makes: opening a conversation marks an answer whose generator died
(no heartbeat for a while) as interrupted (``message_interrupt_stale``). It records what has
already happened, for the owner only, and gives a third party nothing to steer; the fixture
has no such answer. Sessions are not compared: signing in and allauth's activity tracking
write them on any request.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from celery.app.task import Task
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from playwright.sync_api import expect

from accounts.models import AuditEvent, DataExport
from chat import services
from chat.services.conversations import conversation_share_create
from tests.chat.test_browser import sign_in
from tests.security import test_idor
from tests.security.test_idor import URLS

world = test_idor.world  # the IDOR suite's owner with one object of every kind

# Rows that any request may write (the session and allauth's record of it).
NOT_COMPARED = {"sessions.session", "usersessions.usersession"}


def _every_pattern(resolver=None, prefix: str = "", namespace: str = ""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from _every_pattern(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield namespace + (entry.name or str(entry.pattern)), prefix + str(entry.pattern), entry


def _paths(world) -> list[tuple[str, str]]:
    """A GET path for every URL pattern: the IDOR suite's case for one with an id, the route
    itself for the others (allauth's few regular expressions, unanchored)."""
    paths = []
    for name, route, entry in _every_pattern():
        if entry.pattern.converters or "<" in route:
            if name in URLS:
                paths.append((name, URLS[name][1](world).split("?")[0]))
            continue  # admin's object pages, tokens: no id of the owner's to put there
        paths.append((name, "/" + re.sub(r"[\^$]", "", route)))
    return paths


def _snapshot() -> dict[str, list[tuple[Any, ...]]]:
    tables = {}
    for model in apps.get_models():
        if model._meta.label_lower in NOT_COMPARED or not model._meta.managed:
            continue
        fields = [f.attname for f in model._meta.concrete_fields]
        tables[model._meta.label_lower] = list(model.objects.order_by("pk").values_list(*fields))
    return tables


@pytest.mark.django_db
def test_no_get_of_any_url_changes_a_row_or_queues_a_job(world, owner, monkeypatch):
    deleted = services.conversation_create(user=owner, title="Deleted long ago")
    type(deleted).objects.filter(pk=deleted.pk).update(deleted_at="2020-01-01T00:00:00Z")
    queued: list[str] = []
    monkeypatch.setattr(Task, "apply_async", lambda task, *a, **k: queued.append(task.name))
    client = Client()
    client.force_login(owner)
    paths = _paths(world)
    assert len(paths) > 50 and ("datasets:export", f"/datasets/{world.dataset.pk}/export/") in paths

    before = _snapshot()
    changed = []
    for name, path in paths:
        if name == "chat:thread_models":
            continue  # async, reads the pool in another thread: tests/chat/test_thread_views.py
        client.get(path)
        after = _snapshot()
        changed += [(name, path, table) for table in after if after[table] != before[table]]
        before = after
    assert changed == []
    assert queued == []
    # Sessions are not compared above; no GET (allauth's sign-out page included) ended this one.
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_the_dataset_export_is_a_post_that_starts_a_job_and_a_get_only_reads(owner, dataset):
    client = Client()
    client.force_login(owner)
    # The address an image in rendered markdown pointed at builds nothing any more.
    assert client.get(f"/datasets/{dataset.pk}/export.zip").status_code == 404
    assert client.get(f"/datasets/{dataset.pk}/export/").status_code == 405
    assert not DataExport.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="dataset.export").exists()
    # And the POST needs the CSRF token like every other.
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(owner)
    assert guarded.post(f"/datasets/{dataset.pk}/export/").status_code == 403
    assert not DataExport.objects.exists()

    started = client.post(f"/datasets/{dataset.pk}/export/")
    assert started.status_code == 302
    export = DataExport.objects.get(dataset_id=dataset.pk)
    assert export.status == "queued"
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "waiting for a worker" in page and 'http-equiv="refresh"' in page
    # Not built yet: nothing to download.
    assert client.get(f"/datasets/{dataset.pk}/exports/{export.pk}.zip").status_code == 404


IMAGE_ANSWER = (
    "Here is the chart: ![quarterly chart]({export}) and a logo "
    "![the logo](https://images.example.com/beacon.png?who=reader) and "
    '<img src="https://images.example.com/raw.png"> the end'
)


@pytest.mark.browser
@pytest.mark.usefixtures("transactional_db")
def test_an_answer_with_images_loads_none_of_them_in_chromium(page, daphne_url, owner, dataset):
    export = f"/datasets/{dataset.pk}/export/"
    conversation = services.conversation_create(user=owner, title="Pictures")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Show me", model=""
    )
    services.message_finish(
        message_id=answer.pk,
        content=IMAGE_ANSWER.format(export=export),
        last_seq=1,
        status="complete",
    )
    token = conversation_share_create(user=owner, id=conversation.pk)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.route("https://images.example.com/**", lambda route: route.abort())
    sign_in(page, daphne_url, owner.email)
    for path in (f"/c/{conversation.pk}/", f"/s/{token}/"):
        page.goto(f"{daphne_url}{path}")
        content = page.locator(".message.assistant .content")
        expect(content).to_contain_text("the end")
        page.wait_for_load_state("networkidle")
        assert content.locator("img").count() == 0, path
        # Each image is its alt text, as a link a person may choose to follow.
        expect(content.get_by_role("link", name="[image: quarterly chart]")).to_be_visible()
        expect(content.get_by_role("link", name="[image: the logo]")).to_be_visible()
        csp = page.evaluate(
            "fetch(location.href).then(r => r.headers.get('content-security-policy'))"
        )
        img_src = re.search(r"img-src ([^;]*)", csp).group(1).split()
        assert img_src == [
            f"{daphne_url}/static/",
            f"{daphne_url}/chat/attachments/",
            "data:",
        ], csp
    fetched = [url for url in requests if "images.example.com" in url or "/export" in url]
    assert fetched == []
    # The CSP is a net of its own: an image the sanitiser let through would not load.
    blocked = page.evaluate(
        """(src) => new Promise((done) => {
            const img = new Image();
            img.onload = () => done("loaded");
            img.onerror = () => done("blocked");
            img.src = src;
        })""",
        f"{daphne_url}/datasets/{dataset.pk}/",
    )
    assert blocked == "blocked"
    assert not DataExport.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="dataset.export").exists()
