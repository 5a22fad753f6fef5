"""The dataset pages and their JSON endpoints against three people: the owner, a member with
a grant of each level in turn, and an outsider (404 everywhere). Each level allows exactly
what it says: view sees, query searches (chat, passages), edit changes sources, uploads and
refills, manage grants, exports and deletes."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.test import Client

from accounts.models import AuditEvent
from datasets.models import Dataset, Grant, Level, RefillJob, Source
from datasets.services import dataset_files_dir, grant_set
from datasets.services.refill import dataset_refill_start
from tests.datasets.export_support import dataset_export_fetch

pytestmark = pytest.mark.django_db

FILES = {"vacation.txt": "Thirty days of zebrafish leave.", "travel.txt": "Take the train."}


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def handbook(dataset, upload, refill_now):
    upload(dataset, FILES)
    refill_now(dataset)
    return dataset


@pytest.fixture
def chunk_id(handbook):
    return handbook.active_version.entries.get(key="upload:vacation.txt").document.chunks.first().pk


def _person(who, owner, member, outsider, handbook):
    if who == "owner":
        return owner
    if who == "outsider":
        return outsider
    grant_set(dataset=handbook, user=owner, level=Level[who.upper()], for_user=member)
    return member


LEVELS = ["outsider", "view", "query", "edit", "manage", "owner"]
RANK = {name: i for i, name in enumerate(LEVELS)}


def _expect(who: str, needs: str, ok: int = 302) -> int:
    if who == "outsider":
        return 404
    return ok if RANK[who] >= RANK[needs] else 403


@pytest.mark.parametrize("who", LEVELS)
def test_each_level_allows_exactly_what_it_says(who, owner, member, outsider, handbook, chunk_id):
    person = _person(who, owner, member, outsider, handbook)
    client = client_for(person)
    pk = handbook.pk
    job = dataset_refill_start(dataset=handbook, user=owner)

    page = client.get(f"/datasets/{pk}/")
    assert page.status_code == (404 if who == "outsider" else 200)
    listed = client.get("/datasets/")
    assert (f'data-id="{pk}"' in listed.content.decode()) == (who != "outsider")
    if who != "outsider":
        label = "manage" if who == "owner" else who
        assert f'<td class="level">{label}</td>' in listed.content.decode()

    picker = client.get("/datasets/api/picker/").json()["datasets"]
    assert (pk in [d["id"] for d in picker]) == (RANK[who] >= RANK["query"])
    if picker:
        assert picker[0]["level"] == ("manage" if who == "owner" else who)
    passage = client.get(f"/datasets/api/chunks/{chunk_id}/")
    assert passage.status_code == (200 if RANK[who] >= RANK["query"] else 404)
    job_status = client.get(f"/datasets/api/jobs/{job.pk}/")
    assert job_status.status_code == (404 if who == "outsider" else 200)

    new = io.BytesIO(b"new words")
    new.name = "new.txt"
    upload = client.post(f"/datasets/{pk}/upload/", {"files": [new]})
    assert upload.status_code == _expect(who, "edit")
    added = client.post(
        f"/datasets/{pk}/sources/", {"kind": "urls", "urls": "https://example.com/a"}
    )
    assert added.status_code == _expect(who, "edit")
    assert Source.objects.filter(dataset=handbook, kind="urls").exists() == (
        RANK[who] >= RANK["edit"]
    )
    refill = client.post(f"/datasets/{pk}/refill/")
    assert refill.status_code == _expect(who, "edit")
    cancel = client.post(f"/datasets/jobs/{job.pk}/cancel/")
    assert cancel.status_code == _expect(who, "edit")
    job.refresh_from_db()
    assert (job.status == RefillJob.Status.CANCELLED) == (RANK[who] >= RANK["edit"])

    export = dataset_export_fetch(client, handbook, person)
    assert export.status_code == _expect(who, "manage", ok=200)
    grant = client.post(f"/datasets/{pk}/grants/", {"who": outsider.email, "level": "10"})
    assert grant.status_code == _expect(who, "manage")
    confirm = client.get(f"/datasets/{pk}/delete/")
    assert confirm.status_code == _expect(who, "manage", ok=200)
    deleted = client.post(f"/datasets/{pk}/delete/", {"confirm_name": handbook.name})
    assert deleted.status_code == _expect(who, "manage")
    assert Dataset.objects.filter(pk=pk).exists() == (RANK[who] < RANK["manage"])


def test_unknown_ids_are_404_like_anothers(owner):
    client = client_for(owner)
    for url in ["/datasets/999999/", "/datasets/999999/exports/1.zip", "/datasets/999999/delete/"]:
        assert client.get(url).status_code == 404
    posts = ["/datasets/999999/upload/", "/datasets/999999/refill/", "/datasets/999999/export/"]
    for url in [*posts, "/datasets/jobs/1/cancel/"]:
        assert client.post(url).status_code == 404
    assert client.get("/datasets/api/chunks/999999/").status_code == 404


def test_a_passage_says_where_in_its_document_it_is(dataset, upload, refill_now, owner):
    upload(dataset, {"guide.md": "# Guide\n\n## Install\n\nRun the installer."})
    refill_now(dataset)
    (chunk,) = dataset.active_version.entries.get().document.chunks.all()
    passage = client_for(owner).get(f"/datasets/api/chunks/{chunk.pk}/").json()
    assert passage["title"] == "Guide" and passage["context"] == "Guide"
    assert passage["text"].startswith("# Guide")


def test_signed_out_pages_redirect_and_json_says_401(handbook, chunk_id):
    client = client_for(None)
    assert client.get(f"/datasets/{handbook.pk}/").status_code == 302
    assert client.get("/datasets/api/picker/").status_code == 401
    assert client.get(f"/datasets/api/chunks/{chunk_id}/").status_code == 401


def test_create_with_regions_and_the_errors_a_person_can_fix(owner):
    client = client_for(owner)
    made = client.post(
        "/datasets/", {"name": "Nordic", "description": "x", "allowed_regions": "eu-north"}
    )
    dataset = Dataset.objects.get(name="Nordic")
    assert made.status_code == 302 and made.url == f"/datasets/{dataset.pk}/"
    assert dataset.regions == frozenset({"eu-north"}) and dataset.owner == owner
    bad = client.post("/datasets/", {"name": "Bad", "allowed_regions": "not a region!"})
    assert bad.status_code == 400
    assert "is not a region name" in bad.content.decode()
    assert not Dataset.objects.filter(name="Bad").exists()
    blank = client.post("/datasets/", {"name": "  "})
    assert blank.status_code == 400 and "Give the dataset a name" in blank.content.decode()
    event = AuditEvent.objects.get(action="dataset.create")
    assert event.actor == owner and event.target_id == str(dataset.pk)
    assert event.ip == "127.0.0.1"


def test_uploading_many_files_keeps_the_good_ones_and_names_the_refused(
    settings, owner, dataset, datasets_dir
):
    settings.AIPORTAL_DOCUMENT_MAX_BYTES = 100
    client = client_for(owner)
    good = io.BytesIO(b"fine words")
    good.name = "good.txt"
    other = io.BytesIO(b"# notes")
    other.name = "notes.md"
    big = io.BytesIO(b"x" * 101)
    big.name = "big.txt"
    odd = io.BytesIO(b"MZ binary")
    odd.name = "tool.exe"
    answer = client.post(
        f"/datasets/{dataset.pk}/upload/", {"files": [good, other, big, odd]}, follow=True
    )
    text = answer.content.decode()
    assert "Uploaded good.txt, notes.md" in text
    assert "big.txt is larger than the limit of 100 bytes" in text
    assert "tool.exe: aiportal reads only these kinds of file" in text
    [source] = Source.objects.filter(dataset=dataset, kind="upload")
    assert [f["name"] for f in source.config["files"]] == ["good.txt", "notes.md"]
    stored = sorted(p.name for p in dataset_files_dir(dataset=dataset).iterdir())
    assert stored == sorted(f["stored"] for f in source.config["files"])  # nothing left over
    again = io.BytesIO(b"newer words")
    again.name = "good.txt"
    client.post(f"/datasets/{dataset.pk}/upload/", {"files": [again]})
    source.refresh_from_db()
    assert [f["name"] for f in source.config["files"]] == ["notes.md", "good.txt"]
    nothing = client.post(f"/datasets/{dataset.pk}/upload/", {}, follow=True)
    assert "Choose one or more files" in nothing.content.decode()
    uploads = AuditEvent.objects.filter(action="dataset.upload").order_by("id")
    assert [e.detail["files"] for e in uploads] == [["good.txt", "notes.md"], ["good.txt"]]


def test_too_many_files_for_one_source_keeps_nothing_of_that_upload(settings, owner, dataset):
    settings.AIPORTAL_UPLOAD_MAX_FILES = 1
    files = []
    for name in ("a.txt", "b.txt"):
        item = io.BytesIO(b"words")
        item.name = name
        files.append(item)
    answer = client_for(owner).post(
        f"/datasets/{dataset.pk}/upload/", {"files": files}, follow=True
    )
    assert "holds at most 1 files" in answer.content.decode()
    assert not dataset.sources.exists()
    files_dir = dataset_files_dir(dataset=dataset)
    assert not files_dir.exists() or not any(files_dir.iterdir())


def test_the_job_endpoint_gives_status_progress_and_counts(owner, dataset):
    job = dataset_refill_start(dataset=dataset, user=owner)
    answer = client_for(owner).get(f"/datasets/api/jobs/{job.pk}/").json()
    assert answer == {
        "id": job.pk,
        "status": "queued",
        "progress": 0.0,
        "counts": {
            "seen": 0,
            "added": 0,
            "reused": 0,
            "removed": 0,
            "errors": 0,
            "embedded": 0,
            "to_embed": 0,
        },
        "message": "",
        "errors": [],
    }


def test_a_bad_source_says_what_to_fix_and_adds_nothing(owner, dataset):
    client = client_for(owner)
    answer = client.post(
        f"/datasets/{dataset.pk}/sources/",
        {"kind": "urls", "urls": "ftp://example.com/x"},
        follow=True,
    )
    assert "http" in answer.content.decode()
    assert not dataset.sources.exists()
    folder = client.post(
        f"/datasets/{dataset.pk}/sources/",
        {"kind": "folder", "root": "nowhere", "path": "a"},
        follow=True,
    )
    assert folder.status_code == 200 and not dataset.sources.exists()
    unknown = client.post(f"/datasets/{dataset.pk}/sources/", {"kind": "upload"}, follow=True)
    assert "Choose a kind of source" in unknown.content.decode()


def test_grants_by_email_and_group_then_revoked_all_audited(owner, member, dataset):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="team")
    client = client_for(owner)
    client.post(f"/datasets/{dataset.pk}/grants/", {"who": member.email, "level": "20"})
    client.post(f"/datasets/{dataset.pk}/grants/", {"who": "team", "level": "10"})
    assert {(g.user, g.group, g.level) for g in Grant.objects.filter(dataset=dataset)} == {
        (member, None, Level.QUERY),
        (None, team, Level.VIEW),
    }
    nobody = client.post(
        f"/datasets/{dataset.pk}/grants/", {"who": "ghost@example.com", "level": "10"}, follow=True
    )
    # Answered like a known address (tests/security/test_account_enumeration.py).
    assert "Access set for ghost@example.com" in nobody.content.decode()
    bad_level = client.post(
        f"/datasets/{dataset.pk}/grants/", {"who": member.email, "level": "7"}, follow=True
    )
    assert "is not a level" in bad_level.content.decode()
    grant = Grant.objects.get(dataset=dataset, user=member)
    client.post(f"/datasets/{dataset.pk}/grants/{grant.pk}/revoke/")
    assert not Grant.objects.filter(pk=grant.pk).exists()
    actions = list(
        AuditEvent.objects.filter(target_id=str(dataset.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "dataset.create",
        "dataset.grant.set",
        "dataset.grant.set",
        "dataset.grant.pending",
        "dataset.grant.revoke",
    ]
    revoked = AuditEvent.objects.get(action="dataset.grant.revoke")
    assert revoked.detail["user"] == member.email and revoked.detail["level"] == "query"


def test_refill_from_the_page_is_audited(owner, dataset):
    client_for(owner).post(f"/datasets/{dataset.pk}/refill/")
    job = RefillJob.objects.get(dataset=dataset)
    event = AuditEvent.objects.get(action="dataset.refill.start")
    assert event.detail == {"job": job.pk, "scheduled": False}
    assert event.actor == owner


def test_export_holds_documents_metadata_and_uploaded_files(owner, handbook):
    answer = dataset_export_fetch(client_for(owner), handbook, owner)
    assert answer["Content-Type"] == "application/zip"
    assert f'filename="{handbook.slug}.zip"' in answer["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(answer.streaming_content)))
    meta = json.loads(archive.read("dataset.json"))
    assert meta["dataset"]["name"] == "Team handbook"
    assert meta["active_version"] == 1
    assert {d["key"] for d in meta["documents"]} == {"upload:travel.txt", "upload:vacation.txt"}
    vacation = next(d for d in meta["documents"] if d["key"] == "upload:vacation.txt")
    assert archive.read(vacation["text"]).decode() == FILES["vacation.txt"]
    assert {u["name"] for u in meta["uploads"]} == set(FILES)
    for item in meta["uploads"]:
        assert archive.read(item["file"]).decode() == FILES[item["name"]]
    assert meta["sources"][0]["kind"] == "upload"
    event = AuditEvent.objects.get(action="dataset.export")
    assert event.detail == {"documents": 2, "uploads": 2}


def test_delete_needs_the_name_and_removes_every_row_and_file(
    owner, member, handbook, django_capture_on_commit_callbacks
):
    grant_set(dataset=handbook, user=owner, level=Level.QUERY, for_user=member)
    files_dir = dataset_files_dir(dataset=handbook)
    assert any(files_dir.iterdir())
    client = client_for(owner)
    wrong = client.post(f"/datasets/{handbook.pk}/delete/", {"confirm_name": "nope"})
    assert wrong.status_code == 200 and "exactly" in wrong.content.decode()
    assert Dataset.objects.filter(pk=handbook.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(f"/datasets/{handbook.pk}/delete/", {"confirm_name": handbook.name})
    assert done.status_code == 302 and done.url == "/datasets/"
    assert not Dataset.objects.filter(pk=handbook.pk).exists()
    assert not Grant.objects.filter(dataset_id=handbook.pk).exists()
    from datasets.models import Chunk, Document, Version

    assert not Version.objects.filter(dataset_id=handbook.pk).exists()
    assert not Document.objects.filter(dataset_id=handbook.pk).exists()
    assert not Chunk.objects.filter(document__dataset_id=handbook.pk).exists()
    assert not files_dir.exists()
    event = AuditEvent.objects.get(action="dataset.delete")
    assert event.detail["name"] == "Team handbook" and event.actor == owner


def test_audit_events_are_append_only(owner, dataset):
    event = AuditEvent.objects.get(action="dataset.create")
    event.action = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


def test_an_upload_starts_reading_its_files(owner, dataset, datasets_dir):
    """Nobody has to find "Refill now": an upload queues a refill, and a second upload while
    it waits joins it rather than queueing another."""
    client = client_for(owner)
    first = io.BytesIO(b"Thirty days of zebrafish leave.")
    first.name = "vacation.txt"
    answer = client.post(f"/datasets/{dataset.pk}/upload/", {"files": [first]}, follow=True)
    assert "Reading them now" in answer.content.decode()
    [job] = RefillJob.objects.filter(dataset=dataset)
    assert job.status == "queued" and job.triggered_by == owner
    second = io.BytesIO(b"Take the train.")
    second.name = "travel.txt"
    client.post(f"/datasets/{dataset.pk}/upload/", {"files": [second]})
    assert RefillJob.objects.filter(dataset=dataset).count() == 1
    refused = io.BytesIO(b"MZ binary")
    refused.name = "tool.exe"
    RefillJob.objects.all().delete()
    client.post(f"/datasets/{dataset.pk}/upload/", {"files": [refused]})
    assert not RefillJob.objects.exists()  # nothing stored, nothing to read
