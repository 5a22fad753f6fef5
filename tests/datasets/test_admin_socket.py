"""The admin's refill progress socket, ``ws/admin/jobs/<id>/``, on the real ASGI application:
staff only, same origin only, and it relays what the refill engine publishes."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection
from django.test import Client

from datasets.models import RefillJob
from datasets.services.events import job_publish

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://127.0.0.1"
WAIT = 10  # seconds: an upper bound for one frame, never a sleep


@pytest.fixture(autouse=True)
def _fresh_layer(fresh_channel_layer):
    """Each test starts with a new, empty channel layer (tests/conftest.py)."""


@pytest.fixture(scope="session", autouse=True)
def _no_idle_sessions_left(django_db_setup, django_db_blocker):
    """The connections database_sync_to_async opens under WebsocketCommunicator stay open
    (see tests/chat/conftest.py); end them so the test database can be dropped. At the end
    of the session only: earlier it would cut the connections later tests still use."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        for _attempt in range(3):
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        " AND state = 'idle'"
                    )
                break
            except OperationalError:
                # tests/chat/conftest.py did the same a moment ago and ended the pooled
                # connection this one was given; the pool discards it on close.
                connection.close()
        connection.close()


@database_sync_to_async
def _cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _socket(job_id: int, *, cookie: str | None = None, origin: bytes = ORIGIN):
    from aiportal.asgi import application

    headers = [(b"origin", origin)]
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, f"/ws/admin/jobs/{job_id}/", headers=headers)


@pytest.fixture
def staff(make_user):
    return make_user("admin@example.com", is_staff=True)


@pytest.fixture
def job(dataset):
    return RefillJob.objects.create(dataset=dataset)


async def _closed_with(comm) -> int:
    connected, _ = await comm.connect()
    assert connected
    output = await comm.receive_output(timeout=WAIT)
    await comm.disconnect()
    assert output["type"] == "websocket.close"
    return output["code"]


async def test_an_anonymous_socket_is_closed_with_4401(job):
    assert await _closed_with(_socket(job.pk)) == 4401


async def test_a_signed_in_person_who_is_not_staff_is_closed_with_4403(job, member):
    assert await _closed_with(_socket(job.pk, cookie=await _cookie(member))) == 4403


async def test_staff_without_the_view_permission_on_jobs_are_closed_with_4403(job):
    from accounts.services import user_create
    from tests.conftest import PASSWORD

    plain = await database_sync_to_async(user_create)(email="plain@example.com", password=PASSWORD)
    plain.is_staff = True
    await database_sync_to_async(plain.save)()
    assert await _closed_with(_socket(job.pk, cookie=await _cookie(plain))) == 4403


async def test_a_socket_from_another_origin_is_refused(job, staff):
    comm = _socket(job.pk, cookie=await _cookie(staff), origin=b"http://evil.example")
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()


async def test_a_job_that_does_not_exist_is_closed_with_4404(staff):
    assert await _closed_with(_socket(987654, cookie=await _cookie(staff))) == 4404


async def test_staff_get_the_job_as_stored_then_every_event_the_engine_publishes(
    job, staff, dataset
):
    other = await database_sync_to_async(RefillJob.objects.create)(
        dataset=dataset, status=RefillJob.Status.CANCELLED
    )
    comm = _socket(job.pk, cookie=await _cookie(staff))
    connected, _ = await comm.connect()
    assert connected
    first = json.loads(await comm.receive_from(timeout=WAIT))
    assert first == {
        "type": "datasets.job",
        "job": job.pk,
        "dataset": dataset.pk,
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
    }

    def progress() -> None:
        RefillJob.objects.filter(pk=job.pk).update(status="running", progress=0.5, seen=3)
        job_publish(job=RefillJob.objects.get(pk=other.pk))  # another job: not relayed
        job_publish(job=RefillJob.objects.get(pk=job.pk))

    await sync_to_async(progress)()
    frame = json.loads(await comm.receive_from(timeout=WAIT))
    assert frame["job"] == job.pk
    assert frame["status"] == "running"
    assert frame["progress"] == 0.5
    assert frame["counts"]["seen"] == 3
    assert await comm.receive_nothing(timeout=0.2)
    # What the page sends is ignored; the socket stays open.
    await comm.send_to(text_data="hello")
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()
