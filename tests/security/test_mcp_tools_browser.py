"""A tool's result that carries markup, a script and a prompt injection, shown in the chat:
inert text in the step, nothing loaded or run, and nothing called because of it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chat import services
from tests.chat.test_browser import sign_in
from tests.mcp_server import INJECTION
from tests.tools.test_tools_browser import ANSWER, tools_server

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_hostile_result_is_shown_as_inert_text(page, daphne_url, owner, mcp):
    server = tools_server(owner, mcp.url)
    conversation = services.conversation_create(user=owner, title="Memo")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Read the memo", model=""
    )
    services.message_finish(
        message_id=answer.pk,
        content="The memo asks for something I will not do.",
        last_seq=1,
        status="complete",
        tool_steps=[
            {
                "id": "call-1",
                "tool": f"{server.name}/memo_read",
                "arguments": '{"office": "<b>HQ</b>"}',
                "status": "ok",
                "result": INJECTION,
                "duration_ms": 12,
                "at": 0,
            }
        ],
    )
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    step = page.locator(f"{ANSWER} details.tool-step")
    step.locator("summary").click()
    expect(step.locator("pre").nth(1)).to_have_text(INJECTION)
    expect(step.locator("pre").first).to_contain_text("<b>HQ</b>")
    assert step.locator("img, script, strong, b, a").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None
    assert mcp.record.calls == []
