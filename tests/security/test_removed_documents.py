"""Removed documents: once a refill takes a document out of a dataset, nobody reads it through
the app any more, whatever id they kept (a chat citation, a chunk id seen earlier).

The document's rows stay stored while old versions are kept for rollback, so every read by id
must ask the active version, not the table. The owner, a member with query access and an
outsider each try the chunk API, the search and the document list; staff still browse old
versions in the admin.
"""

from __future__ import annotations

import pytest
from django.test import Client

from datasets.models import Chunk, Level, VersionDocument
from datasets.selectors import chunk_search, document_list
from datasets.services import grant_set

pytestmark = pytest.mark.django_db

KEPT = "kept words about harbours " * 20
GONE = "confidential merger plans with zebracorp " * 20


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def refilled(dataset, upload, refill_now, owner, member):
    """A dataset whose second refill removed ``gone.txt``: (the removed chunk, a kept one)."""
    grant_set(dataset=dataset, user=owner, level=Level.QUERY, for_user=member)
    upload(dataset, {"kept.txt": KEPT, "gone.txt": GONE})
    refill_now(dataset)
    gone = Chunk.objects.filter(document__entries__key="upload:gone.txt").first()
    kept = Chunk.objects.filter(document__entries__key="upload:kept.txt").first()
    upload(dataset, {"kept.txt": KEPT})
    job = refill_now(dataset)
    assert job.counts["removed"] == 1
    # Still stored: the retired version that links it is kept for rollback.
    assert Chunk.objects.filter(pk=gone.pk).exists()
    return gone, kept


@pytest.mark.parametrize("who", ["owner", "member", "outsider"])
def test_a_removed_documents_chunk_answers_404_to_everyone(who, refilled, owner, member, outsider):
    gone, kept = refilled
    person = {"owner": owner, "member": member, "outsider": outsider}[who]
    client = _client(person)
    removed = client.get(f"/datasets/api/chunks/{gone.pk}/")
    assert removed.status_code == 404
    assert "zebracorp" not in removed.content.decode()
    assert removed.json() == client.get("/datasets/api/chunks/99999999/").json()
    still = client.get(f"/datasets/api/chunks/{kept.pk}/")
    assert still.status_code == (404 if who == "outsider" else 200)


def test_a_chunk_only_a_building_version_links_is_not_served(dataset, upload, refill_now, owner):
    upload(dataset, {"kept.txt": KEPT})
    refill_now(dataset)
    gone = Chunk.objects.filter(document__entries__key="upload:kept.txt").first()
    # Rolled back to nothing: the dataset has no active version at all.
    type(dataset).objects.filter(pk=dataset.pk).update(active_version=None)
    assert _client(owner).get(f"/datasets/api/chunks/{gone.pk}/").status_code == 404


def test_search_never_finds_a_removed_document(refilled, dataset, owner, member):
    for person in (owner, member):
        hits = chunk_search(user=person, query="zebracorp", dataset_ids=[dataset.pk], limit=8)
        assert hits == []


def test_an_old_versions_documents_are_listed_only_to_managers(refilled, dataset, owner, member):
    dataset.refresh_from_db()
    old = dataset.versions.exclude(pk=dataset.active_version_id).get()
    assert "upload:gone.txt" in {
        e.key for e in document_list(user=owner, dataset=dataset, version=old)
    }
    assert list(document_list(user=member, dataset=dataset, version=old)) == []
    shown = {e.key for e in document_list(user=member, dataset=dataset)}
    assert shown == {"upload:kept.txt"}


def test_the_dataset_page_lists_no_removed_document(refilled, dataset, member):
    page = _client(member).get(f"/datasets/{dataset.pk}/").content.decode()
    assert "kept.txt" in page and "gone.txt" not in page


def test_staff_still_browse_the_retired_version_in_the_admin(refilled, dataset, make_user):
    admin = make_user("root@example.com", is_staff=True)
    dataset.refresh_from_db()
    old = dataset.versions.exclude(pk=dataset.active_version_id).get()
    entry = VersionDocument.objects.get(version=old, key="upload:gone.txt")
    page = _client(admin).get(f"/admin/datasets/version/{old.pk}/documents/{entry.pk}/")
    assert page.status_code == 200 and "zebracorp" in page.content.decode()
