"""The page's socket in Chromium: when the connection drops mid-answer, the page says it is
reconnecting, comes back, and picks the running answer up with no gap and no duplicate; a
signed-out socket says so, with a link, and does not retry."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat.models import Message
from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

# Runs before the page's scripts (Playwright injects it; the page's CSP does not apply):
# records every socket, the frames each received and the states #socket-status went
# through, and while window.__blockSockets is set, new sockets go to a path that refuses
# them, as a server that is down would.
RECORDER = """
window.__sockets = [];
window.__frames = [];
window.__states = [];
window.__blockSockets = false;
const RealWebSocket = window.WebSocket;
window.WebSocket = class extends RealWebSocket {
  constructor(url, protocols) {
    super(window.__blockSockets ? url.replace("/ws/chat/", "/ws/down/") : url, protocols);
    const socket = window.__sockets.push(this) - 1;
    this.__index = socket;
    this.addEventListener("message", (event) => {
      window.__frames.push({ socket, frame: JSON.parse(event.data) });
    });
  }
  send(data) {
    // A connection that has died without closing: what is sent goes nowhere.
    if (window.__deadSockets && window.__deadSockets.has(this.__index)) return;
    super.send(data);
    if (window.__dropAfterSend && String(data).includes('"chat.send"')) this.close();
  }
};
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("socket-status");
  const record = () => window.__states.push(status.dataset.state);
  record();
  new MutationObserver(record).observe(status, { attributes: true });
});
"""


@pytest.fixture(scope="module")
def slow_daphne_url(django_db_setup, django_db_blocker, slow_emulator_url):
    """A Daphne whose worker takes about 8 s per answer: time to drop and come back."""
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{slow_emulator_url}@test-slow",
            "AIPORTAL_SAVE_INTERVAL_MS": "100",
        }
    )
    yield url
    process.stop()


def test_a_dropped_socket_reconnects_and_resumes_the_answer_without_gap_or_duplicate(
    page, slow_daphne_url, owner
):
    page.add_init_script(RECORDER)
    sign_in(page, slow_daphne_url, owner.email)
    page.get_by_role("textbox", name="Message").fill("Keep going while the line drops")
    page.get_by_role("textbox", name="Message").press("Enter")
    page.wait_for_function(
        """() => {
            const el = document.querySelector('.message.assistant');
            return el && el.dataset.status === 'streaming'
                && el.querySelector('.content').textContent.length > 10;
        }"""
    )
    answer_id = int(page.locator(".message.assistant").get_attribute("data-id"))
    # The line drops, and the server stays unreachable for a while.
    page.evaluate("window.__blockSockets = true; window.__sockets.at(-1).close()")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#socket-status")).to_contain_text("Reconnecting")
    # A stop cannot reach the server now: the page says so, and does not queue it.
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot be stopped yet")
    seen = page.evaluate(
        """(id) => Math.max(0, ...window.__frames
            .filter((f) => f.socket === 0 && f.frame.type === 'message.delta'
                && f.frame.message === id)
            .map((f) => f.frame.seq))""",
        answer_id,
    )
    # Meanwhile the answer goes on without the page: a real gap.
    for _ in range(200):
        if Message.objects.get(pk=answer_id).last_seq >= seen + 5:
            break
        page.wait_for_timeout(50)
    page.evaluate("window.__blockSockets = false")

    answer = page.locator(".message.assistant")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    expect(page.locator("#socket-status")).to_have_text("Connected")
    expect(answer).to_have_attribute("data-status", "complete", timeout=30_000)
    saved = Message.objects.get(pk=answer_id)
    assert saved.last_seq >= seen + 5

    states = page.evaluate("window.__states")
    first_drop = states.index("reconnecting")
    assert "connected" in states[:first_drop]
    assert states[-1] == "connected"
    frames = page.evaluate("window.__frames")
    before = [
        f["frame"]
        for f in frames
        if f["socket"] == 0
        and f["frame"].get("message") == answer_id
        and f["frame"]["type"] == "message.delta"
    ]
    sockets = page.evaluate("window.__sockets.length")
    after = [
        f["frame"]
        for f in frames
        if f["socket"] == sockets - 1 and f["frame"].get("message") == answer_id
    ]
    assert [d["seq"] for d in before] == list(range(1, seen + 1))
    snapshot = after[0]
    assert snapshot["type"] == "message.snapshot"
    assert snapshot["seq"] >= seen + 5
    have = "".join(d["text"] for d in before)
    assert snapshot["content"].startswith(have)
    deltas = [f for f in after if f["type"] == "message.delta"]
    done = after[-1]
    assert done["type"] == "message.done"
    assert [d["seq"] for d in deltas] == list(range(snapshot["seq"] + 1, done["seq"] + 1))
    assert snapshot["content"] + "".join(d["text"] for d in deltas) == saved.content
    assert done["content"] == saved.content
    # And what the resumed page shows is the answer that was saved, as a reload renders it.
    live = answer.locator(".content").inner_text()
    page.reload()
    expect(answer).to_have_attribute("data-status", "complete")
    assert answer.locator(".content").inner_text() == live


def test_a_signed_out_socket_says_so_with_a_link_and_does_not_retry(page, daphne_url, owner):
    page.add_init_script(RECORDER)
    sign_in(page, daphne_url, owner.email)
    # Signed out in another tab: the session is gone; the next socket is refused with 4401.
    page.context.clear_cookies()
    page.evaluate("window.__sockets.at(-1).close()")
    status = page.locator("#socket-status")
    expect(status).to_have_attribute("data-state", "signed-out")
    expect(status).to_have_text("Signed out: sign in again")
    link = status.get_by_role("link", name="sign in again")
    expect(link).to_have_attribute("href", "/accounts/login/?next=%2F")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    sockets = page.evaluate("window.__sockets.length")
    # Waiting longer than the longest first backoff (1 s): no new socket is opened.
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__sockets.length") == sockets
    assert page.evaluate("window.__states").count("signed-out") == 1


def test_a_connection_that_stops_answering_pings_is_replaced(page, daphne_url, owner):
    page.add_init_script(RECORDER)
    sign_in(page, daphne_url, owner.email)
    # A second socket from the page's own module, with a heartbeat of milliseconds instead of
    # seconds; the first of its connections then goes silent, as a dead one does.
    page.evaluate(
        """async () => {
            const { createSocket } = await import('/static/chat/socket.js');
            window.__deadSockets = new Set([window.__sockets.length]);
            window.__heartbeatStates = [];
            createSocket({
                onFrame: () => {},
                onState: (state) => window.__heartbeatStates.push(state),
                pingEvery: 200,
                pongWithin: 2000,
            });
        }"""
    )
    page.wait_for_function("() => window.__heartbeatStates.filter((s) => s === 'open').length >= 2")
    states = page.evaluate("window.__heartbeatStates")
    assert states[:2] == ["connecting", "open"]
    assert "reconnecting" in states[2:]
    replacement = page.evaluate("window.__sockets.length") - 1
    # The new connection answers: pongs arrive, and it is kept.
    page.wait_for_function(
        """(index) => window.__frames.filter(
            (f) => f.socket === index && f.frame.type === 'pong').length >= 3""",
        arg=replacement,
    )
    assert page.evaluate("window.__heartbeatStates").count("open") == 2
    assert page.evaluate("window.__sockets.length") - 1 == replacement


def test_offline_shows_and_the_socket_comes_back_when_online(page, daphne_url, owner):
    page.add_init_script(RECORDER)
    sign_in(page, daphne_url, owner.email)
    status = page.locator("#socket-status")
    page.context.set_offline(True)
    page.evaluate("window.__sockets.at(-1).close()")
    expect(status).to_have_attribute("data-state", "offline")
    expect(status).to_have_text("Offline")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    page.get_by_role("textbox", name="Message").fill("Kept while offline")
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Not connected")
    expect(page.get_by_role("textbox", name="Message")).to_have_value("Kept while offline")
    page.context.set_offline(False)
    expect(status).to_have_attribute("data-state", "connected")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    page.get_by_role("textbox", name="Message").press("Enter")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")


def test_a_message_whose_confirmation_was_lost_says_so_and_was_kept(page, daphne_url, owner):
    page.add_init_script(RECORDER)
    sign_in(page, daphne_url, owner.email)
    page.evaluate("window.__dropAfterSend = true")
    page.get_by_role("textbox", name="Message").fill("Did this arrive?")
    page.get_by_role("textbox", name="Message").press("Enter")
    question = page.locator(".message.user")
    expect(question).to_have_attribute("data-status", "unconfirmed")
    expect(question.locator(".meta")).to_contain_text("Reload the page to see whether it arrived")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    # The server had it: after a reload, the question and its answer are there.
    page.evaluate("window.__dropAfterSend = false")
    page.goto(f"{daphne_url}/")
    page.locator("#conversation-list a", has_text="Did this arrive?").click()
    expect(page.locator(".message.user .content")).to_have_text("Did this arrive?")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
