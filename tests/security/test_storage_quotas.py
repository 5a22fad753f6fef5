"""Storage: uploads cannot fill the server's disk.

A replaced upload is deleted once nothing names it (never while a refill may still read it);
each person and each dataset has a quota, and an upload that does not fit is refused with a
message on the page and nothing half-written; an upload declared bigger than the request cap
or the room left is refused with 413 before its body is parsed, and a file past its own limit
is not written past it. Small limits set for each test.
"""

from __future__ import annotations

import io

import pytest
from django.core.files import uploadhandler
from django.http import multipartparser
from django.test import Client

from datasets.models import RefillJob, StoredFile
from datasets.selectors import chunk_search
from datasets.services import dataset_create, dataset_files_dir, source_remove

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _file(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def _upload(client, dataset, *files, follow=True):
    return client.post(f"/datasets/{dataset.pk}/upload/", {"files": list(files)}, follow=follow)


def _on_disk(dataset) -> list[str]:
    folder = dataset_files_dir(dataset=dataset)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# Committed for real: the files are deleted after the commit.
@pytest.mark.django_db(transaction=True)
def test_three_uploads_of_one_file_leave_one_file_on_disk(owner, dataset):
    client = _client(owner)
    for version in range(3):
        _upload(client, dataset, _file("notes.txt", f"version {version}".encode()))
    [stored] = _on_disk(dataset)
    assert [row.stored for row in StoredFile.objects.filter(dataset=dataset)] == [stored]
    assert (dataset_files_dir(dataset=dataset) / stored).read_text() == "version 2"


# Committed for real: the files are deleted after the commit.
@pytest.mark.django_db(transaction=True)
def test_a_replaced_file_waits_for_the_refill_that_may_be_reading_it(owner, dataset, refill_now):
    client = _client(owner)
    _upload(client, dataset, _file("notes.txt", b"the first wording about otters"))
    [first] = _on_disk(dataset)
    # The upload queued a refill (views/pages.py): it is now the one reading the files.
    job = RefillJob.objects.get(dataset=dataset)
    RefillJob.objects.filter(pk=job.pk).update(status=RefillJob.Status.RUNNING)
    _upload(client, dataset, _file("notes.txt", b"the second wording about beavers"))
    assert first in _on_disk(dataset) and len(_on_disk(dataset)) == 2
    RefillJob.objects.filter(pk=job.pk).update(status=RefillJob.Status.CANCELLED)
    refill_now(dataset)  # sweeps when it ends
    assert first not in _on_disk(dataset) and len(_on_disk(dataset)) == 1
    assert chunk_search(user=owner, query="beavers", dataset_ids=[dataset.pk])


# Committed for real: the files are deleted after the commit.
@pytest.mark.django_db(transaction=True)
def test_removing_the_upload_source_deletes_its_files(owner, dataset):
    _upload(_client(owner), dataset, _file("a.txt", b"aaa"), _file("b.txt", b"bbb"))
    assert len(_on_disk(dataset)) == 2
    source_remove(source=dataset.sources.get(), user=owner)
    assert _on_disk(dataset) == [] and not StoredFile.objects.exists()


def test_a_dataset_over_its_quota_refuses_the_upload_and_says_why(settings, owner, dataset):
    settings.AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES = 1000
    client = _client(owner)
    _upload(client, dataset, _file("one.txt", b"x" * 600))
    page = _upload(client, dataset, _file("two.txt", b"y" * 600)).content.decode()
    assert "two.txt does not fit" in page
    assert "has 400\xa0bytes left of its 1000\xa0bytes storage quota" in page
    assert len(_on_disk(dataset)) == 1
    assert [f["name"] for f in dataset.sources.get().config["files"]] == ["one.txt"]


def test_a_person_over_their_quota_is_refused_in_every_dataset(settings, owner, dataset):
    settings.AIPORTAL_UPLOAD_QUOTA_USER_BYTES = 1000
    other = dataset_create(user=owner, name="Second")
    client = _client(owner)
    _upload(client, dataset, _file("one.txt", b"x" * 600))
    page = _upload(client, other, _file("two.txt", b"y" * 600)).content.decode()
    assert "you have 400\xa0bytes left of your 1000\xa0bytes storage quota" in page
    assert _on_disk(other) == [] and not other.sources.exists()


def test_files_that_together_pass_the_room_store_nothing_of_the_request(settings, owner, dataset):
    settings.AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES = 1000
    answer = _upload(
        _client(owner), dataset, _file("a.txt", b"a" * 600), _file("b.txt", b"b" * 600)
    )
    assert answer.status_code == 413
    assert "Nothing was uploaded. b.txt does not fit" in answer.content.decode()
    assert _on_disk(dataset) == [] and not dataset.sources.exists()


@pytest.fixture
def parsed(monkeypatch) -> list[int]:
    """Bytes the multipart parser handed to Django's own upload handlers (what is written)."""
    written: list[int] = []
    for cls in (uploadhandler.MemoryFileUploadHandler, uploadhandler.TemporaryFileUploadHandler):
        real = cls.receive_data_chunk

        def counting(self, raw_data, start, real=real):
            written.append(len(raw_data))
            return real(self, raw_data, start)

        monkeypatch.setattr(cls, "receive_data_chunk", counting)
    return written


def test_an_upload_declared_over_the_request_cap_is_413_before_parsing(
    settings, owner, dataset, monkeypatch
):
    settings.AIPORTAL_UPLOAD_MAX_REQUEST_BYTES = 10_000

    def never(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", never)
    answer = _upload(_client(owner), dataset, _file("big.txt", b"z" * 50_000), follow=False)
    assert answer.status_code == 413
    text = answer.content.decode()
    assert "Nothing was uploaded. This upload is 49.0\xa0KB, more than the 9.8\xa0KB" in text
    assert _on_disk(dataset) == []


def test_an_upload_declared_over_the_room_left_is_413_before_parsing(
    settings, owner, dataset, monkeypatch
):
    settings.AIPORTAL_UPLOAD_QUOTA_USER_BYTES = 10_000
    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", lambda *a: pytest.fail())
    answer = _upload(_client(owner), dataset, _file("big.txt", b"z" * 200_000), follow=False)
    assert answer.status_code == 413
    assert "does not fit: you have 9.8\xa0KB left" in answer.content.decode()


def test_a_file_past_its_limit_is_not_written_past_it(settings, owner, dataset, parsed):
    settings.AIPORTAL_DOCUMENT_MAX_BYTES = 1024
    big = _file("big.txt", b"w" * 2_000_000)
    page = _upload(_client(owner), dataset, big, _file("small.txt", b"kept")).content.decode()
    assert "big.txt is larger than the limit of 1024 bytes" in page
    assert "Uploaded small.txt" in page
    # At most the chunk that crossed the limit, not the two megabytes.
    assert sum(parsed) <= 1024 + 2 * 65536
    assert len(_on_disk(dataset)) == 1


def test_the_upload_form_shows_the_room_left(settings, owner, dataset):
    settings.AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES = 1000
    _upload(_client(owner), dataset, _file("one.txt", b"x" * 600))
    page = _client(owner).get(f"/datasets/{dataset.pk}/").content.decode()
    assert "Room left for uploads: 400\xa0bytes" in page


def test_the_upload_still_checks_the_csrf_token(owner, dataset):
    # The view is csrf_exempt only to put its upload handler first; it checks the token
    # itself right after.
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    answer = _upload(client, dataset, _file("a.txt", b"words"), follow=False)
    assert answer.status_code == 403
    assert _on_disk(dataset) == [] and not dataset.sources.exists()
