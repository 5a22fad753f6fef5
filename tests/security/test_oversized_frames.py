"""Oversized websocket frames get an answer, never a silently dropped connection, on a real
Daphne (``python -m aiportal.serve``, as deployed) with a real websocket client.

Two limits, with the test's small ``AIPORTAL_MAX_MESSAGE_CHARS`` (100): a frame the chat
consumer still reads (up to its own cap) gets a ``too_long`` error frame and the socket
stays open; a frame over Daphne's message limit (``AIPORTAL_WEBSOCKET_MAX_BYTES``, made to
fit the consumer's cap) gets close code 1009 with a reason, which the chat page shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import aiohttp
import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.chat.conftest import session_cookie
from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne

MAX_CHARS = 100
# What settings.py derives from MAX_CHARS for the Daphne under test.
MAX_BYTES = 4 * (MAX_CHARS * 6 + 4096)


@pytest.fixture(scope="module")
def small_daphne(django_db_setup, django_db_blocker, emulator_url) -> Iterator[str]:
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_MAX_MESSAGE_CHARS": str(MAX_CHARS),
        }
    )
    yield url
    process.stop()


def test_the_transport_limit_fits_every_frame_the_consumer_judges():
    assert MAX_BYTES >= 4 * (MAX_CHARS * 6 + 4096)
    assert settings.AIPORTAL_WEBSOCKET_MAX_BYTES == 4 * (
        settings.AIPORTAL_MAX_MESSAGE_CHARS * 6 + 4096
    )


def _send(content: str) -> str:
    return json.dumps({"type": "chat.send", "conversation": None, "content": content, "v": 1})


@pytest.mark.django_db(transaction=True)
async def test_a_real_daphne_answers_every_oversized_frame(small_daphne, owner):
    cookie = await session_cookie(owner)
    headers = {"Cookie": f"sessionid={cookie}", "Origin": small_daphne}
    url = small_daphne.replace("http", "ws") + "/ws/chat/"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, headers=headers) as ws:
            # Over the message cap, under the transport's: the consumer's error frame.
            await ws.send_str(_send("x" * (MAX_CHARS * 5)))
            frame = await ws.receive_json(timeout=10)
            assert (frame["type"], frame["code"]) == ("message.error", "too_long")
            await ws.send_str(json.dumps({"type": "ping", "v": 1}))
            assert (await ws.receive_json(timeout=10))["type"] == "pong"

            # Over the transport's limit: a close frame with 1009 and a reason, not a drop.
            await ws.send_str(_send("y" * (MAX_BYTES + 10)))
            closing = await ws.receive(timeout=10)
            assert closing.type == aiohttp.WSMsgType.CLOSE, closing
            assert closing.data == 1009
            assert f"at most {MAX_BYTES // 1024} KiB" in closing.extra
        # And the next socket works.
        async with http.ws_connect(url, headers=headers) as ws:
            await ws.send_str(json.dumps({"type": "ping", "v": 1}))
            assert (await ws.receive_json(timeout=10))["type"] == "pong"


@pytest.mark.browser
@pytest.mark.usefixtures("transactional_db")
def test_the_page_says_why_the_server_closed_its_socket(page, small_daphne, owner):
    # The page never sends a frame that big itself (it checks the length first): the test
    # slips one into the page's own socket, on its way to the real Daphne.
    servers = []

    def through(route):
        servers.append(route.connect_to_server())

    page.route_web_socket("**/ws/chat/", through)
    sign_in(page, small_daphne, owner.email)
    servers[-1].send(_send("z" * (MAX_BYTES + 10)))
    error = page.locator("#composer-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("too big to send")
    expect(error).to_contain_text(f"at most {MAX_BYTES // 1024} KiB")
    # It reconnects by itself.
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
