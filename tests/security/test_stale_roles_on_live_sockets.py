"""A socket keeps the roles its user had when it opened only until they change: a demoted
admin's staff-only socket (the refill progress in the admin) closes within seconds, on a
real Daphne with the Redis channel layer, while their chat socket, which needs no role,
stays open. And a frame that reaches a chat socket after its user lost access is ignored."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, Permission

from accounts.models import User
from chat.models import Message
from datasets.models import RefillJob
from tests.accounts import mfa_fixtures, policy_fixtures
from tests.accounts.mfa_fixtures import AVAILABLE_APPS, cookie_for, live_socket

pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=[*AVAILABLE_APPS, "datasets", "chat"]),
    pytest.mark.usefixtures("thread_connections_closed"),
]
thread_connections_closed = mfa_fixtures.thread_connections_closed
no_rate_limits = policy_fixtures.no_rate_limits  # allauth's, off
idle_connections_ended = mfa_fixtures.idle_connections_ended


@pytest.fixture
def job(owner, settings, tmp_path):
    from datasets.services import dataset_create

    settings.AIPORTAL_DATASETS_DIR = tmp_path / "datasets"
    dataset = dataset_create(user=owner, name="Handbook")
    return RefillJob.objects.create(dataset=dataset)


def _job_path(job: RefillJob) -> str:
    return f"/ws/admin/jobs/{job.pk}/"


async def test_a_demoted_admin_loses_the_refill_progress_socket_but_keeps_their_chat(
    daphne_url, make_user, job
):
    admin = await sync_to_async(make_user)("boss@example.com", is_staff=True)
    _, cookie = await sync_to_async(cookie_for)(admin)
    async with (
        live_socket(daphne_url, cookie, _job_path(job)) as progress,
        live_socket(daphne_url, cookie) as chat,
    ):
        assert (await progress.first_frame())["job"] == job.pk
        assert await chat.answers()
        admin.is_staff = admin.is_superuser = False
        await sync_to_async(admin.save)()
        assert await progress.close_code() == 4403
        assert await chat.answers()


@pytest.fixture
def job_viewers():
    group = Group.objects.create(name="Refill watchers")
    group.permissions.add(Permission.objects.get(codename="view_refilljob"))
    yield group
    # Groups are not emptied between these tests (see AVAILABLE_APPS); nor are the rows that
    # join them (the auth app is left out of this test's registry, so delete cannot see them).
    group.permissions.clear()
    group.user_set.clear()
    group.delete()


async def _watcher(make_user, group: Group) -> User:
    def make() -> User:
        user = make_user("watcher@example.com")
        user.is_staff = True  # staff, not superuser: the group gives the permission
        user.save()
        user.groups.add(group)
        return user

    return await sync_to_async(make)()


async def test_leaving_the_group_that_grants_the_permission_closes_the_progress_socket(
    daphne_url, make_user, job, job_viewers
):
    watcher = await _watcher(make_user, job_viewers)
    _, cookie = await sync_to_async(cookie_for)(watcher)
    async with live_socket(daphne_url, cookie, _job_path(job)) as progress:
        assert (await progress.first_frame())["job"] == job.pk
        await sync_to_async(watcher.groups.remove)(job_viewers)
        assert await progress.close_code() == 4403


async def test_a_group_losing_the_permission_closes_its_members_progress_sockets(
    daphne_url, make_user, job, job_viewers
):
    watcher = await _watcher(make_user, job_viewers)
    _, cookie = await sync_to_async(cookie_for)(watcher)
    async with live_socket(daphne_url, cookie, _job_path(job)) as progress:
        assert (await progress.first_frame())["job"] == job.pk
        await sync_to_async(job_viewers.permissions.clear)()
        assert await progress.close_code() == 4403


async def test_a_deactivated_admins_progress_socket_closes_as_signed_out(
    daphne_url, make_user, job
):
    admin = await sync_to_async(make_user)("gone@example.com", is_staff=True)
    _, cookie = await sync_to_async(cookie_for)(admin)
    async with live_socket(daphne_url, cookie, _job_path(job)) as progress:
        assert (await progress.first_frame())["job"] == job.pk
        admin.is_active = False
        await sync_to_async(admin.save)()
        assert await progress.close_code() == 4401


@pytest.mark.usefixtures("fresh_channel_layer", "idle_connections_ended")
async def test_a_frame_that_arrives_after_access_was_lost_is_not_handled(owner):
    from aiportal.asgi import application

    _, cookie = await sync_to_async(cookie_for)(owner)
    comm = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={cookie}".encode())],
    )
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data=json.dumps({"type": "ping"}))
    assert json.loads(await comm.receive_from(timeout=10))["type"] == "pong"
    owner.status = User.Status.SUSPENDED
    await sync_to_async(owner.save)()
    closed = await comm.receive_output(timeout=10)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4403)
    # A client that ignores the close and goes on sending: nothing is done for it.
    send = {"type": "chat.send", "conversation": None, "content": "still here?"}
    await comm.send_to(text_data=json.dumps(send))
    await comm.send_to(text_data=json.dumps({"type": "ping"}))
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()
    assert not await sync_to_async(Message.objects.filter(conversation__owner=owner).exists)()
