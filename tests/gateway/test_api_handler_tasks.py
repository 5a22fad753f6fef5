"""The /v1 handler answers in the request's own task (a new task would start only on the
event loop's next turn, which under load every first token waited for), and still stops the
answer the moment the client leaves, and only then."""

from __future__ import annotations

import asyncio

import pytest
from django.http import HttpResponse

from aiportal.api_handler import ApiASGIHandler

SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "raw_path": b"/v1/chat/completions",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1")],
    "client": ("127.0.0.1", 5000),
    "server": ("127.0.0.1", 8000),
    "scheme": "http",
    "http_version": "1.1",
}


class Client:
    """The ASGI side of one connection: the request, then whatever comes next."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": b"{}", "more_body": False})
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        return await self.inbox.get()

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self.inbox.put_nowait({"type": "http.disconnect"})


@pytest.fixture
def handler(settings, monkeypatch):
    """The handler with a view the test controls (``views[0]`` is awaited per request)."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    handler = ApiASGIHandler()
    views: list = []

    async def run_get_response(request):
        return await views[0](request)

    monkeypatch.setattr(handler, "run_get_response", run_get_response)
    handler.views = views
    return handler


async def test_the_answer_runs_in_the_requests_own_task(handler):
    tasks = []

    async def view(request):
        tasks.append(asyncio.current_task())
        return HttpResponse(b"ok")

    handler.views.append(view)
    client = Client()
    request_task = asyncio.ensure_future(handler(SCOPE, client.receive, client.send))
    await request_task

    assert tasks == [request_task]
    assert [m["type"] for m in client.sent] == ["http.response.start", "http.response.body"]
    assert client.sent[0]["status"] == 200


async def test_a_client_that_leaves_stops_the_answer_and_the_request_ends_quietly(handler):
    stopped = asyncio.Event()
    waiting = asyncio.Event()

    async def view(request):
        waiting.set()
        try:
            await asyncio.sleep(30)  # waiting on upstream for a first token
        except asyncio.CancelledError:
            stopped.set()
            raise
        return HttpResponse(b"too late")

    handler.views.append(view)
    client = Client()
    request_task = asyncio.ensure_future(handler(SCOPE, client.receive, client.send))
    await waiting.wait()

    client.leave()
    await asyncio.wait_for(request_task, 5)  # returns, does not raise

    assert stopped.is_set()
    assert not request_task.cancelled()
    assert request_task.cancelling() == 0  # the cancellation was taken back
    assert client.sent == []


async def test_a_cancellation_from_outside_is_not_swallowed(handler):
    waiting = asyncio.Event()

    async def view(request):
        waiting.set()
        await asyncio.sleep(30)
        return HttpResponse(b"never")

    handler.views.append(view)
    client = Client()
    request_task = asyncio.ensure_future(handler(SCOPE, client.receive, client.send))
    await waiting.wait()

    request_task.cancel()  # Daphne stopping the application

    with pytest.raises(asyncio.CancelledError):
        await request_task


async def test_a_client_leaving_as_the_answer_ends_cancels_nothing_after_it(handler):
    """The listener sees the disconnect while the answer is still being made, but its
    callback only runs once the answer is done: it must not cancel the task, which goes on
    (here: the test itself) after the request."""
    client = Client()

    async def view(request):
        client.leave()  # the listener wakes on the next turn...
        await asyncio.sleep(0)  # ...and this answer finishes on the same turn, after it
        return HttpResponse(b"ok")

    handler.views.append(view)
    await handler(SCOPE, client.receive, client.send)

    await asyncio.sleep(0.05)  # a stray cancel would land on this task's next await

    assert asyncio.current_task().cancelling() == 0
    assert client.sent[0]["status"] == 200


async def test_rules_that_change_at_every_attempt_give_a_503_to_retry(monkeypatch, rf):
    """Admission turned the request back under every version it was tried with: a clear
    503 with Retry-After, never an answer under rules that were not current."""
    from gateway.api import auth
    from gateway.callers import PolicyChanged

    tried: list[str] = []

    async def always_changed(request, token, check, view, args, kwargs):
        tried.append(check.version)
        raise PolicyChanged(f"v{len(tried) + 1}")

    monkeypatch.setattr(auth, "_with_key", always_changed)
    monkeypatch.setattr(auth, "policies_version_known", lambda: "v1")

    @auth.api_key_required
    async def view(request):
        raise AssertionError("never reached")

    request = rf.post("/v1/chat/completions", HTTP_AUTHORIZATION="Bearer aip_x")
    response = await view(request)

    assert tried == ["v1", "v2", "v3"]
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert b"policies_changed" in response.content
