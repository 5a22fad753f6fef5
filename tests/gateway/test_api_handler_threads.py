"""The /v1 handler serves a request without Django's per-request thread: Django's own
handler enters a ThreadSensitiveContext for every request (a new thread for its
thread-sensitive sync calls, such as request_started's receivers, and another to join it),
which the gateway benchmark measured in every first token. In-process, through the
project's ASGI application. (Django's log line for an error answer still runs in the loop's
shared executor, as everywhere; that is not a thread of the request's own.)"""

from __future__ import annotations

import pytest
from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from channels.testing import HttpCommunicator

from aiportal.asgi import application

HOST = [(b"host", b"127.0.0.1")]


@pytest.fixture
def thread_sensitive(monkeypatch, settings):
    """What the request did that runs in a thread of its own: contexts entered and
    thread-sensitive sync calls made."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    seen: list[str] = []
    enter, call = ThreadSensitiveContext.__aenter__, SyncToAsync.__call__

    async def recording_enter(context):
        seen.append("ThreadSensitiveContext")
        return await enter(context)

    async def recording_call(sync, *args, **kwargs):
        if sync._thread_sensitive:
            seen.append(f"sync_to_async({sync.func.__name__})")
        return await call(sync, *args, **kwargs)

    monkeypatch.setattr(ThreadSensitiveContext, "__aenter__", recording_enter)
    monkeypatch.setattr(SyncToAsync, "__call__", recording_call)
    return seen


async def get(path: str) -> dict:
    return await HttpCommunicator(application, "GET", path, headers=HOST).get_response()


async def test_a_v1_request_gets_no_thread_of_its_own(thread_sensitive):
    response = await get("/v1/models")

    assert response["status"] == 401  # no key: answered by the view, not before it
    assert thread_sensitive == []


async def test_the_sites_pages_still_get_djangos_own_handler(thread_sensitive):
    response = await get("/no-such-page/")

    assert response["status"] == 404
    assert "ThreadSensitiveContext" in thread_sensitive  # what the /v1 handler saves
