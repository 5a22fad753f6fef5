"""The /v1 handler serves a request without starting a thread or hopping to one: Django's
own handler starts one per request (its ThreadSensitiveContext, for request_started's sync
receivers) and another to join it, which the gateway benchmark measured in every first
token. In-process, through the project's ASGI application."""

from __future__ import annotations

import threading

import pytest
from channels.testing import HttpCommunicator

from aiportal.asgi import application

HOST = [(b"host", b"127.0.0.1")]


@pytest.fixture
def threads_started(monkeypatch, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def recording_start(thread):
        started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recording_start)
    return started


async def get(path: str) -> dict:
    return await HttpCommunicator(application, "GET", path, headers=HOST).get_response()


async def test_a_v1_request_starts_no_thread(threads_started):
    await get("/v1/models")  # the loop's first: it opens the Redis client's connection
    threads_started.clear()

    response = await get("/v1/models")

    assert response["status"] == 401  # no key: answered by the view, not before it
    assert threads_started == []


async def test_the_sites_pages_still_get_djangos_own_handler(threads_started):
    await get("/no-such-page/")
    threads_started.clear()

    response = await get("/no-such-page/")

    assert response["status"] == 404
    assert threads_started  # what the /v1 handler saves: a thread for every request
