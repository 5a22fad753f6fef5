"""The three people (owner, member with a grant of each level, outsider) against every
selector and service: the outsider meets ``DoesNotExist`` everywhere, exactly as for an id
that was never used; each level allows exactly what it says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from datasets import selectors
from datasets.models import Dataset, Grant, Level, RefillJob, Version
from datasets.selectors import chunk_search, dataset_get, dataset_level_for
from datasets.services import dataset_update, grant_revoke, grant_set, source_add
from datasets.services.refill import (
    dataset_refill_cancel,
    dataset_refill_start,
    dataset_version_activate,
)

pytestmark = pytest.mark.django_db

TEXT = "The quarterly aurora report explains the borealis budget."


@pytest.fixture
def filled(dataset, upload, refill_now):
    upload(dataset, {"aurora.txt": TEXT})
    refill_now(dataset)
    return dataset


def _retired_version(dataset):
    return Version.objects.create(dataset=dataset, number=99, status=Version.Status.RETIRED)


# Each operation, the level it needs, and what it does; ``allowed`` checks that it did it.
OPERATIONS = {
    "get": (Level.VIEW, lambda u, d: dataset_get(user=u, id=d.pk)),
    "list": (Level.VIEW, lambda u, d: _in_list(u, d)),
    "versions": (Level.VIEW, lambda u, d: list(selectors.version_list(user=u, dataset=d))),
    "documents": (Level.VIEW, lambda u, d: list(selectors.document_list(user=u, dataset=d))),
    "sources": (Level.VIEW, lambda u, d: list(selectors.source_list(user=u, dataset=d))),
    "jobs": (Level.VIEW, lambda u, d: list(selectors.refill_job_list(user=u, dataset=d))),
    "job": (
        Level.VIEW,
        lambda u, d: selectors.refill_job_get(user=u, id=d.refill_jobs.first().pk),
    ),
    "version": (
        Level.VIEW,
        lambda u, d: selectors.version_get(user=u, id=d.active_version_id),
    ),
    "search": (Level.QUERY, lambda u, d: _search(u, d)),
    "source_add": (
        Level.EDIT,
        lambda u, d: source_add(dataset=d, user=u, kind="upload", config={"files": []}),
    ),
    "refill": (Level.EDIT, lambda u, d: dataset_refill_start(dataset=d, user=u)),
    "cancel": (
        Level.EDIT,
        lambda u, d: dataset_refill_cancel(job=RefillJob.objects.create(dataset=d), user=u),
    ),
    "update": (Level.MANAGE, lambda u, d: dataset_update(dataset=d, user=u, description="x")),
    "grants": (Level.MANAGE, lambda u, d: list(selectors.grant_list(user=u, dataset=d))),
    "grant": (
        Level.MANAGE,
        lambda u, d: grant_set(
            dataset=d, user=u, level=Level.VIEW, for_group=Group.objects.create(name="g")
        ),
    ),
    "revoke": (
        Level.MANAGE,
        lambda u, d: grant_revoke(
            grant=Grant.objects.create(
                dataset=d, group=Group.objects.create(name="h"), level=Level.VIEW
            ),
            user=u,
        ),
    ),
    "rollback": (
        Level.MANAGE,
        lambda u, d: dataset_version_activate(dataset=d, version=_retired_version(d), user=u),
    ),
}


class _Empty(Exception):
    """A list or a search that left the dataset out: the outsider's 'not found'."""


def _in_list(user, dataset):
    if not selectors.dataset_list_visible(user=user).filter(pk=dataset.pk).exists():
        raise _Empty
    return True


def _search(user, dataset):
    hits = chunk_search(user=user, query="aurora borealis", dataset_ids=[dataset.pk])
    if not hits:
        raise _Empty
    assert hits[0].text.startswith("The quarterly aurora")
    return hits


NOT_FOUND = (
    Dataset.DoesNotExist,
    Version.DoesNotExist,
    RefillJob.DoesNotExist,
    _Empty,
)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_the_owner_may_do_everything(operation, filled, owner):
    _, run = OPERATIONS[operation]
    run(owner, filled)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_outsider_finds_nothing_at_all(operation, filled, outsider):
    _, run = OPERATIONS[operation]
    with pytest.raises(NOT_FOUND):
        run(outsider, filled)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_staff_are_not_implicitly_granted(operation, filled, make_user):
    admin = make_user("admin@example.com", is_staff=True)
    _, run = OPERATIONS[operation]
    with pytest.raises(NOT_FOUND):
        run(admin, filled)


@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_each_level_allows_exactly_what_it_says(operation, level, filled, owner, member):
    needed, run = OPERATIONS[operation]
    grant_set(dataset=filled, user=owner, for_user=member, level=level)
    if level >= needed:
        run(member, filled)
    else:
        # Reads the member may not make are "not found" (they see the dataset, not this);
        # writes say which level they need.
        with pytest.raises((PermissionDenied, *NOT_FOUND)):
            run(member, filled)


def test_a_dataset_get_below_the_level_asked_is_not_found(filled, owner, member):
    grant_set(dataset=filled, user=owner, for_user=member, level=Level.QUERY)
    assert dataset_get(user=member, id=filled.pk, at_least=Level.QUERY) == filled
    with pytest.raises(Dataset.DoesNotExist):
        dataset_get(user=member, id=filled.pk, at_least=Level.EDIT)
    with pytest.raises(Dataset.DoesNotExist):
        dataset_get(user=member, id=filled.pk + 1000)
    with pytest.raises(Dataset.DoesNotExist):
        dataset_get(user=member, id="not a number")


def test_an_expired_grant_counts_for_nothing(filled, owner, member):
    grant = grant_set(
        dataset=filled,
        user=owner,
        for_user=member,
        level=Level.MANAGE,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    assert dataset_level_for(user=member, dataset=filled) == Level.MANAGE
    Grant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert dataset_level_for(user=member, dataset=filled) is None
    assert _search_or_empty(member, filled) == []
    assert not selectors.dataset_list_visible(user=member).exists()


def _search_or_empty(user, dataset):
    return chunk_search(user=user, query="aurora", dataset_ids=[dataset.pk])


def test_a_grant_that_would_expire_in_the_past_is_refused(filled, owner, member):
    with pytest.raises(ValueError, match="past"):
        grant_set(
            dataset=filled,
            user=owner,
            for_user=member,
            level=Level.VIEW,
            expires_at=timezone.now() - timedelta(minutes=1),
        )
    assert not Grant.objects.exists()


def test_group_grants_follow_membership_live(filled, owner, member):
    team = Group.objects.create(name="team")
    grant_set(dataset=filled, user=owner, for_group=team, level=Level.QUERY)
    assert _search_or_empty(member, filled) == []
    member.groups.add(team)
    assert dataset_level_for(user=member, dataset=filled) == Level.QUERY
    assert len(_search_or_empty(member, filled)) == 1
    member.groups.remove(team)
    assert _search_or_empty(member, filled) == []


def test_the_highest_of_a_users_and_their_groups_grants_applies(filled, owner, member):
    team = Group.objects.create(name="team")
    member.groups.add(team)
    grant_set(dataset=filled, user=owner, for_user=member, level=Level.VIEW)
    grant_set(dataset=filled, user=owner, for_group=team, level=Level.EDIT)
    assert dataset_level_for(user=member, dataset=filled) == Level.EDIT


def test_setting_a_grant_again_changes_its_level_in_place(filled, owner, member):
    grant_set(dataset=filled, user=owner, for_user=member, level=Level.MANAGE)
    grant_set(dataset=filled, user=owner, for_user=member, level=Level.VIEW)
    assert Grant.objects.get().level == Level.VIEW
    assert dataset_level_for(user=member, dataset=filled) == Level.VIEW


def test_revoking_takes_effect_on_the_next_query(filled, owner, member):
    grant = grant_set(dataset=filled, user=owner, for_user=member, level=Level.QUERY)
    assert len(_search_or_empty(member, filled)) == 1
    grant_revoke(grant=grant, user=owner)
    assert _search_or_empty(member, filled) == []
    with pytest.raises(Dataset.DoesNotExist):
        dataset_get(user=member, id=filled.pk)


def test_bad_grants_are_refused_with_a_reason(filled, owner, member):
    with pytest.raises(ValueError, match="owner already"):
        grant_set(dataset=filled, user=owner, for_user=owner, level=Level.VIEW)
    with pytest.raises(ValueError, match="one person or one group"):
        grant_set(dataset=filled, user=owner, level=Level.VIEW)
    with pytest.raises(ValueError, match="not a level"):
        grant_set(dataset=filled, user=owner, for_user=member, level=25)
    assert not Grant.objects.exists()


def test_an_inactive_user_has_no_access(filled, owner, member):
    grant_set(dataset=filled, user=owner, for_user=member, level=Level.MANAGE)
    member.is_active = False
    member.save()
    assert dataset_level_for(user=member, dataset=filled) is None
    owner.is_active = False
    owner.save()
    assert dataset_level_for(user=owner, dataset=filled) is None
