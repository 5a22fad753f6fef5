"""What open pages are told through the channel layer (Redis in the tests): grant and
membership changes on ``datasets.user.<id>``, refill progress on ``datasets.job.<id>``."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from django.contrib.auth.models import Group

from common.websockets import datasets_group as user_group
from datasets.models import Level, RefillJob
from datasets.protocol import job_group
from datasets.services import grant_revoke, grant_set
from datasets.services.refill import dataset_refill_start
from tests.datasets.conftest import corpus, job_wait

CHANGED = {"type": "datasets.changed"}


@pytest.fixture(autouse=True)
def _fresh_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _listen(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def _receive(channel: str, timeout: float = 10) -> dict:
    async def get() -> dict:
        return await asyncio.wait_for(get_channel_layer().receive(channel), timeout)

    return async_to_sync(get)()


@pytest.mark.django_db
def test_a_grant_and_its_revocation_reach_the_users_pages(
    dataset, owner, member, django_capture_on_commit_callbacks
):
    channel = _listen(user_group(member.pk))
    with django_capture_on_commit_callbacks(execute=True):
        grant = grant_set(dataset=dataset, user=owner, for_user=member, level=Level.QUERY)
    assert _receive(channel) == CHANGED
    with django_capture_on_commit_callbacks(execute=True):
        grant_revoke(grant=grant, user=owner)
    assert _receive(channel) == CHANGED


@pytest.mark.django_db
def test_a_group_grant_and_a_change_of_members_reach_every_member(
    dataset, owner, member, make_user, django_capture_on_commit_callbacks
):
    team = Group.objects.create(name="team")
    member.groups.add(team)
    newcomer = make_user("newcomer@example.com")
    members, joining = _listen(user_group(member.pk)), _listen(user_group(newcomer.pk))
    with django_capture_on_commit_callbacks(execute=True):
        grant_set(dataset=dataset, user=owner, for_group=team, level=Level.VIEW)
    assert _receive(members) == CHANGED
    with django_capture_on_commit_callbacks(execute=True):
        team.user_set.add(newcomer)
    assert _receive(joining) == CHANGED
    with django_capture_on_commit_callbacks(execute=True):
        member.groups.remove(team)
    assert _receive(members) == CHANGED


def test_refill_progress_is_pushed_until_the_end(celery_worker, dataset, upload, owner):
    upload(dataset, corpus(4), kind="slow-upload")
    job = dataset_refill_start(dataset=dataset, user=owner)
    channel = _listen(job_group(job.pk))
    events = []
    while not events or events[-1]["status"] not in {"succeeded", "failed"}:
        events.append(_receive(channel, timeout=30))
    assert events[-1]["status"] == "succeeded", events[-1]
    assert events[-1]["progress"] == 1.0 and events[-1]["job"] == job.pk
    assert events[-1]["counts"] == {
        "seen": 4,
        "added": 4,
        "reused": 0,
        "removed": 0,
        "errors": 0,
        "embedded": 0,
        "to_embed": 0,
    }
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress) and len(events) >= 2
    assert job_wait(job.pk, lambda j: j.status == RefillJob.Status.SUCCEEDED)


@pytest.mark.django_db
def test_a_renamed_dataset_reaches_everyone_who_sees_it(
    dataset, owner, member, make_user, django_capture_on_commit_callbacks
):
    from datasets.services import dataset_update

    team = Group.objects.create(name="team")
    colleague = make_user("colleague@example.com")
    colleague.groups.add(team)
    grant_set(dataset=dataset, user=owner, for_user=member, level=Level.VIEW)
    grant_set(dataset=dataset, user=owner, for_group=team, level=Level.VIEW)
    channels = [_listen(user_group(user.pk)) for user in (owner, member, colleague)]
    with django_capture_on_commit_callbacks(execute=True):
        dataset_update(dataset=dataset, user=owner, name="Renamed")
    for channel in channels:
        assert _receive(channel) == CHANGED
