"""The invariants the database itself keeps, whatever code (or admin edit) writes."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError

from datasets.models import (
    Chunk,
    Dataset,
    Document,
    Grant,
    Level,
    RefillJob,
    Version,
    VersionDocument,
)
from datasets.services import dataset_create

pytestmark = pytest.mark.django_db


def _refused(**create):
    model = create.pop("model")
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**create)


def test_a_grant_is_for_a_user_or_a_group_never_both_nor_neither(dataset, member):
    from django.contrib.auth.models import Group

    team = Group.objects.create(name="team")
    _refused(model=Grant, dataset=dataset, level=Level.VIEW)
    _refused(model=Grant, dataset=dataset, user=member, group=team, level=Level.VIEW)
    Grant.objects.create(dataset=dataset, user=member, level=Level.VIEW)
    Grant.objects.create(dataset=dataset, group=team, level=Level.VIEW)


def test_one_grant_per_person_and_dataset_and_only_known_levels(dataset, member):
    Grant.objects.create(dataset=dataset, user=member, level=Level.VIEW)
    _refused(model=Grant, dataset=dataset, user=member, level=Level.EDIT)
    other = dataset_create(user=member, name="Other")
    _refused(model=Grant, dataset=other, user=member, level=15)


def test_at_most_one_queued_or_running_refill_per_dataset(dataset):
    first = RefillJob.objects.create(dataset=dataset)
    _refused(model=RefillJob, dataset=dataset)
    _refused(model=RefillJob, dataset=dataset, status=RefillJob.Status.RUNNING)
    RefillJob.objects.filter(pk=first.pk).update(status=RefillJob.Status.SUCCEEDED)
    RefillJob.objects.create(dataset=dataset)  # the next one may start now
    RefillJob.objects.create(dataset=dataset, status=RefillJob.Status.FAILED)


def test_a_lease_is_held_only_by_a_running_job_and_progress_is_a_fraction(dataset):
    _refused(model=RefillJob, dataset=dataset, lease_owner="w1")
    _refused(model=RefillJob, dataset=dataset, progress=1.5)
    RefillJob.objects.create(dataset=dataset, status=RefillJob.Status.RUNNING, lease_owner="w1")


def test_one_building_and_one_active_version_per_dataset_with_unique_numbers(dataset):
    Version.objects.create(dataset=dataset, number=1, status=Version.Status.ACTIVE)
    Version.objects.create(dataset=dataset, number=2, status=Version.Status.BUILDING)
    _refused(model=Version, dataset=dataset, number=3, status=Version.Status.BUILDING)
    _refused(model=Version, dataset=dataset, number=3, status=Version.Status.ACTIVE)
    _refused(model=Version, dataset=dataset, number=2, status=Version.Status.RETIRED)
    Version.objects.create(dataset=dataset, number=3, status=Version.Status.RETIRED)
    Version.objects.create(dataset=dataset, number=4, status=Version.Status.RETIRED)


def test_content_is_stored_once_per_dataset_and_checksum(dataset, member):
    fields = {"checksum": "a" * 64, "content_type": "text/plain", "size": 1, "text": "x"}
    Document.objects.create(dataset=dataset, **fields)
    _refused(model=Document, dataset=dataset, **fields)
    Document.objects.create(dataset=dataset_create(user=member, name="Other"), **fields)


def test_a_key_appears_once_per_version_and_a_linked_document_cannot_be_deleted(dataset):
    version = Version.objects.create(dataset=dataset, number=1)
    document = Document.objects.create(
        dataset=dataset, checksum="b" * 64, content_type="text/plain", size=1, text="x"
    )
    VersionDocument.objects.create(version=version, document=document, key="k", title="t")
    _refused(model=VersionDocument, version=version, document=document, key="k", title="t")
    with pytest.raises(RestrictedError):
        document.delete()


def test_deleting_a_dataset_takes_everything_with_it(dataset, upload, refill_now):
    upload(dataset, {"a.txt": "alpha " * 300, "b.txt": "beta " * 300})
    refill_now(dataset)
    assert Chunk.objects.exists()
    Dataset.objects.filter(pk=dataset.pk).delete()
    for model in (Version, Document, Chunk, VersionDocument, RefillJob, Grant):
        assert not model.objects.exists(), model
