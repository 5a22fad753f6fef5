"""Cross-site websocket hijacking: a page on another site cannot open a socket that rides
the visitor's session cookie.

A browser sends the session cookie with a websocket handshake from any page (SameSite=Lax
does not cover it), so the Origin header is the only thing that tells aiportal's pages from
someone else's. Every websocket route (collected from the routing modules, so a new route
without a case here fails) is opened with a signed-in cookie and a hostile Origin: the
handshake is refused. The control, the same cookie from aiportal's own origin, connects.
"""

from __future__ import annotations

import aiohttp
import pytest
from channels.testing import WebsocketCommunicator

from chat.routing import websocket_urlpatterns as chat_routes
from datasets.routing import websocket_urlpatterns as datasets_routes
from tests.chat.conftest import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE_ORIGINS = [
    None,  # no Origin at all
    b"null",  # sandboxed frames, file:// pages, some redirects
    b"",
    b"http://evil.example",
    b"https://evil.example",
    b"HTTP://EVIL.EXAMPLE",
    b"http://127.0.0.1.evil",
    b"http://127.0.0.1.evil.example",
    b"http://localhost.evil.example",
    b"http://evil-localhost",
    b"http://evil127.0.0.1",
    b"http://127.0.0.1@evil.example",
    b"http://evil.example#@127.0.0.1",
    b"http://evil.example/127.0.0.1",
    b"http://evil.example\\@127.0.0.1",
    b"http://[::ffff:127.0.0.1].evil",
    b"http://2130706433",
    b"file://",
    b"chrome-extension://abcdefghijklmnop",
    b"http://127.0.0.1 http://evil.example",
    b"http://127.0.0.1\x00.evil.example",
    # An allowed host, but not as a browser writes an origin: channels' own check took these.
    b"ftp://127.0.0.1",
    b"chrome-extension://127.0.0.1",
    b"ws://127.0.0.1",
    b"http://user@127.0.0.1",
    b"http://127.0.0.1/path",
    b"http://127.0.0.1?query",
    b"http://127.0.0.1#fragment",
]
OWN_ORIGIN = b"http://127.0.0.1"


def _route_paths(job_id: int) -> dict[str, str]:
    """A concrete path for every websocket route; the keys are the routes as written."""
    return {"ws/chat/": "/ws/chat/", "ws/admin/jobs/<int:job_id>/": f"/ws/admin/jobs/{job_id}/"}


@pytest.fixture
def job(owner, dataset):
    from datasets.services.refill import dataset_refill_start

    return dataset_refill_start(dataset=dataset, user=owner)


@pytest.fixture
def staff(make_user):
    from django.contrib.auth.models import Permission

    user = make_user("staff@example.com", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_refilljob"))
    return user


def test_every_websocket_route_has_a_case():
    routes = {str(pattern.pattern) for pattern in [*chat_routes, *datasets_routes]}
    assert routes == set(_route_paths(1))


async def _connects(path: str, cookie: str, origin: bytes | None) -> bool:
    from aiportal.asgi import application

    headers = [(b"cookie", f"sessionid={cookie}".encode())]
    if origin is not None:
        headers.append((b"origin", origin))
    comm = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await comm.connect(timeout=10)
    # A refused socket's consumer (channels' denier) only ends when the communicator stops
    # waiting for it, a second by default: a short wait is the same clean-up, sooner.
    await comm.disconnect(timeout=1 if connected else 0.05)
    return connected


async def test_every_route_refuses_every_hostile_origin(staff, job, no_leftover_generations):
    cookie = await session_cookie(staff)
    for route, path in _route_paths(job.pk).items():
        assert await _connects(path, cookie, OWN_ORIGIN), route  # the control
        opened = [o for o in HOSTILE_ORIGINS if await _connects(path, cookie, o)]
        assert opened == [], route


async def test_a_real_daphne_refuses_the_handshake_from_another_origin(
    daphne_url, staff, job, no_leftover_generations
):
    cookie = await session_cookie(staff)
    base = daphne_url.replace("http", "ws")
    async with aiohttp.ClientSession() as http:
        for path in _route_paths(job.pk).values():
            for origin in ("http://evil.example", "null", "http://127.0.0.1.evil"):
                headers = {"Cookie": f"sessionid={cookie}", "Origin": origin}
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(f"{base}{path}", headers=headers)
                assert refused.value.status == 403
            headers = {"Cookie": f"sessionid={cookie}", "Origin": daphne_url}
            async with http.ws_connect(f"{base}{path}", headers=headers) as ws:
                assert not ws.closed
