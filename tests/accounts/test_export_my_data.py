# ruff: noqa: F811 -- the fixtures imported from data_fixtures are parameters here
"""Export my data: a real Celery worker builds one zip of everything the person has; only
they can download it, once, within a day."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, DataExport
from accounts.privacy.export import data_export_build, data_export_request, exports_dir
from chat.models import Conversation, Message
from chat.services import conversation_create, message_create_turn
from gateway import keys
from tests.accounts.data_fixtures import (  # noqa: F401
    _export_worker_process,
    data_dir,
    export_worker,
    signed_in,
    wait_for,
)

DATA = reverse("settings:data")
START = reverse("settings:data_export")


def download_url(export: DataExport) -> str:
    return reverse("settings:data_export_download", args=[export.pk])


def _belongings(user):
    from datasets.services import dataset_create, source_add

    conversation = conversation_create(user=user, title="Trip to Lisbon")
    _question, answer = message_create_turn(
        conversation=conversation, parent=None, content="Where to eat bacalhau?"
    )
    Message.objects.filter(pk=answer.pk).update(
        content="Try the old town.", status=Message.Status.COMPLETE
    )
    dataset = dataset_create(user=user, name="Recipes", description="Family recipes")
    source_add(dataset=dataset, user=user, kind="upload", config={"files": []})
    key, plaintext = keys.apikey_create(user=user, name="laptop")
    return conversation, dataset, key, plaintext


def test_the_owner_downloads_everything_once_and_nobody_else_can(export_worker, owner, member):
    _conversation, dataset, key, plaintext = _belongings(owner)
    conversation_create(user=member, title="Member's secret plans")
    client = signed_in(owner)
    assert client.post(START).status_code == 302
    export = DataExport.objects.get(user=owner)
    # (That the page looks again while the job waits is checked without a worker, below: here
    # the worker may have finished before the page is asked for.)
    export = wait_for(
        lambda: DataExport.objects.filter(pk=export.pk, status="ready").first(),
        what="the export",
        worker=export_worker,
    )
    assert export.progress == 100 and export.expires_at > timezone.now()
    path = exports_dir() / export.file_name
    assert path.is_file() and re.fullmatch(r"[\w-]{32}\.zip", export.file_name)  # random
    page = client.get(DATA).content.decode()
    assert download_url(export) in page and 'http-equiv="refresh"' not in page

    # Another person, and someone signed out, cannot have it (and do not use it up).
    assert signed_in(member).post(download_url(export)).status_code == 404
    anonymous = Client().post(download_url(export))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert client.get(download_url(export)).status_code == 405  # a GET never uses it up

    response = client.post(download_url(export))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = archive.namelist()
    profile = json.loads(archive.read("profile.json"))
    assert profile["email"] == owner.email and "password" not in json.dumps(profile)
    chats = [n for n in names if n.startswith("conversations/")]
    assert len(chats) == 2  # JSON and Markdown of the owner's one conversation
    thread = json.loads(archive.read(next(n for n in chats if n.endswith(".json"))))
    assert [m["content"] for m in thread["messages"]] == [
        "Where to eat bacalhau?",
        "Try the old town.",
    ]
    assert "Member's secret plans" not in json.dumps(names)
    nested = zipfile.ZipFile(io.BytesIO(archive.read(f"datasets/{dataset.slug}-{dataset.pk}.zip")))
    assert json.loads(nested.read("dataset.json"))["dataset"]["name"] == "Recipes"
    key_list = archive.read("api_keys.json").decode()
    assert key.prefix in key_list
    assert plaintext not in key_list and key.digest not in key_list

    # Once: the file is gone and a second download is a 404.
    assert not path.exists()
    assert client.post(download_url(export)).status_code == 404
    export.refresh_from_db()
    assert export.status == "downloaded"
    actions = set(AuditEvent.objects.filter(actor=owner).values_list("action", flat=True))
    assert {"account.export.request", "account.export.download"} <= actions


def test_a_second_request_joins_the_export_under_way(owner, data_dir):
    first = data_export_request(user=owner)
    assert data_export_request(user=owner) == first
    page = signed_in(owner).get(DATA).content.decode()
    assert "waiting for a worker" in page and START not in page  # no second button
    assert 'http-equiv="refresh"' in page  # looks again while the job waits


def test_an_export_expires_after_a_day(owner, data_dir):
    export = data_export_request(user=owner)
    assert data_export_build(export_id=export.pk) == "ready"
    assert data_export_build(export_id=export.pk) == "skipped"  # a redelivered message
    export.refresh_from_db()
    path = exports_dir() / export.file_name
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = signed_in(owner)
    assert client.post(download_url(export)).status_code == 404
    export.refresh_from_db()
    assert export.status == "expired" and not path.exists()
    assert "expired before it was downloaded" in client.get(DATA).content.decode()


def test_a_failed_build_says_so_and_leaves_no_file(owner, data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / "exports").write_text("not a folder")  # the archive cannot be written
    export = data_export_request(user=owner)
    assert data_export_build(export_id=export.pk) == "failed"
    export.refresh_from_db()
    assert export.status == "failed" and "could not be built" in export.error
    client = signed_in(owner)
    assert client.post(download_url(export)).status_code == 404
    page = client.get(DATA).content.decode()
    assert "could not be built" in page and START in page  # and it can be tried again


def test_a_deleted_conversation_is_left_out(owner, data_dir):
    kept = conversation_create(user=owner, title="Kept")
    gone = conversation_create(user=owner, title="Gone")
    Conversation.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    export = data_export_request(user=owner)
    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    names = zipfile.ZipFile(exports_dir() / export.file_name).namelist()
    assert any(f"-{kept.pk}.json" in n for n in names)
    assert not any(f"-{gone.pk}.json" in n for n in names)


def test_the_archive_keeps_its_layout_whichever_app_writes_each_part(owner, data_dir):
    """accounts writes the profile; the gateway, chat and datasets write their own parts
    through the hooks they register (accounts/privacy/hooks.py), in INSTALLED_APPS order."""
    from accounts.privacy.hooks import privacy_hook_list

    assert [hook.name for hook in privacy_hook_list()] == [
        "gateway",
        "chat",
        "assistants",
        "prompts",
        "datasets",
    ]
    conversation, dataset, _key, _plaintext = _belongings(owner)
    export = data_export_request(user=owner)
    assert data_export_build(export_id=export.pk) == "ready"
    export.refresh_from_db()
    assert export.progress == 100
    names = zipfile.ZipFile(exports_dir() / export.file_name).namelist()
    assert names == [
        "README.txt",
        "profile.json",
        "api_keys.json",
        f"conversations/trip-to-lisbon-{conversation.pk}.json",
        f"conversations/trip-to-lisbon-{conversation.pk}.md",
        "prompts.json",
        f"datasets/{dataset.slug}-{dataset.pk}.zip",
    ]


def test_every_branch_of_every_conversation_is_exported(owner, data_dir):
    """An edited question and a regenerated answer are branches: the page shows one, the
    export holds them all (and says so in its README)."""
    conversation = conversation_create(user=owner, title="Lisbon")
    first, answer = message_create_turn(conversation=conversation, parent=None, content="Fish?")
    Message.objects.filter(pk=answer.pk).update(content="Bacalhau.", status="complete")
    regenerated = Message.objects.create(
        conversation=conversation,
        parent=first,
        role="assistant",
        content="Sardines.",
        status="complete",
    )
    edited, edited_answer = message_create_turn(
        conversation=conversation, parent=None, content="Wine?"
    )
    Message.objects.filter(pk=edited_answer.pk).update(content="Vinho verde.", status="complete")
    export = data_export_request(user=owner)
    data_export_build(export_id=export.pk)
    export.refresh_from_db()
    archive = zipfile.ZipFile(exports_dir() / export.file_name)
    stem = f"conversations/lisbon-{conversation.pk}"
    tree = json.loads(archive.read(f"{stem}.json"))
    assert tree["format"] == "aiportal.conversation-tree"
    assert {m["content"] for m in tree["messages"]} == {
        "Fish?",
        "Bacalhau.",
        "Sardines.",
        "Wine?",
        "Vinho verde.",
    }
    assert sorted(tree["branches"]) == sorted(
        [[first.pk, answer.pk], [first.pk, regenerated.pk], [edited.pk, edited_answer.pk]]
    )
    assert tree["branches"][tree["shown"]] == [edited.pk, edited_answer.pk]  # the page's
    markdown = archive.read(f"{stem}.md").decode()
    for text in ("Bacalhau.", "Sardines.", "Vinho verde.", "## Branch 3 of 3"):
        assert text in markdown
    readme = archive.read("README.txt").decode()
    assert "every branch" in readme and "profile.json" in readme
