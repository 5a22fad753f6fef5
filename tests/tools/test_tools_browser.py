"""Tools in headless Chromium: pick a tool in the composer, ask, see the call as a collapsible
step above the answer, then the answer; approve or deny a call in the chat (a hostile
result shown as inert text: tests/security/test_mcp_tools_browser.py). With
$AIPORTAL_TEST_SCREENSHOTS naming a folder, the steps are photographed at desktop and phone
size, light and dark, for a person to look at."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests.chat.test_browser import sign_in
from tests.pages.viewport import resize
from tools.models import McpServer, McpTool

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
ANSWER = ".message.assistant"


def tools_server(owner, url: str, **fields) -> McpServer:
    """The test server with two of its tools, as a refresh would list them (written here:
    the refresh's own test is tests/tools/test_servers.py)."""
    group, _ = Group.objects.get_or_create(name="tool users")
    owner.groups.add(group)
    server = McpServer.objects.create(name="demo", url=url, allow_private=True, **fields)
    server.groups.add(group)
    McpTool.objects.create(
        server=server,
        name="weather",
        description="Current weather conditions for a city.",
        input_schema={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        enabled=True,
    )
    McpTool.objects.create(
        server=server,
        name="memo_read",
        description="Latest memo from the office.",
        input_schema={
            "type": "object",
            "properties": {"office": {"type": "string"}},
            "required": ["office"],
        },
        enabled=True,
    )
    return server


def _ask(page, question: str) -> None:
    picker = page.locator("#tool-picker")
    expect(picker).to_be_visible()
    picker.locator("summary").click()
    option = picker.locator(".tool-option", has_text="demo/weather")
    expect(option).to_contain_text("Current weather conditions for a city.")
    option.locator("input").check()
    expect(picker.locator("summary")).to_have_text("Tools (1)")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/tools-picker-desktop-light.png")
    box = page.get_by_role("textbox", name="Message")
    box.click()  # closes the picker, as a click elsewhere does
    box.fill(question)
    box.press("Enter")


def test_a_person_picks_a_tool_asks_and_sees_the_step_then_the_answer(page, daphne_url, owner, mcp):
    tools_server(owner, mcp.url)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    resize(page, {"width": 1440, "height": 900})
    sign_in(page, daphne_url, owner.email)
    _ask(page, "What is the weather in Paris?")

    answer = page.locator(ANSWER)
    expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
    step = answer.locator("details.tool-step")
    expect(step).to_have_count(1)
    expect(step.locator(".tool-step-name")).to_have_text("Tool: demo/weather")
    expect(step.locator(".tool-step-status")).to_contain_text("done")
    expect(step).not_to_have_attribute("open", "")  # collapsed: the answer comes first
    assert answer.locator(".content").inner_text().strip()
    step.locator("summary").click()
    expect(step.locator("pre").first).to_contain_text('"city": "Paris"')
    expect(step.locator("pre").nth(1)).to_have_text("Sunny and 21 degrees in Paris.")
    assert mcp.record.calls == [("weather", {"city": "Paris"})]
    assert errors == []  # the deltas after the step were painted as they came

    page.reload()  # the step is saved with the answer
    expect(page.locator(f"{ANSWER} details.tool-step .tool-step-name")).to_have_text(
        "Tool: demo/weather"
    )
    if SHOTS:
        for size, (width, height) in SIZES.items():
            resize(page, {"width": width, "height": height})
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                page.locator(f"{ANSWER} details.tool-step summary").click()
                page.screenshot(path=f"{SHOTS}/tools-step-open-{size}-{scheme}.png")
                page.locator(f"{ANSWER} details.tool-step summary").click()
                assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_call_waits_for_the_person_who_denies_it(page, daphne_url, owner, mcp):
    tools_server(owner, mcp.url, approval=McpServer.Approval.ASK)
    resize(page, {"width": 1440, "height": 900})
    sign_in(page, daphne_url, owner.email)
    _ask(page, "What is the weather in Paris?")

    step = page.locator(f"{ANSWER} details.tool-step")
    expect(step).to_have_attribute("data-status", "waiting")
    expect(step).to_have_attribute("open", "")
    expect(step.locator(".tool-step-status")).to_have_text("waiting for your approval")
    if SHOTS:
        for size, (width, height) in SIZES.items():
            resize(page, {"width": width, "height": height})
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                page.screenshot(path=f"{SHOTS}/tools-approval-{size}-{scheme}.png")
        resize(page, {"width": 1440, "height": 900})
    step.get_by_role("button", name="Deny").click()
    expect(page.locator(ANSWER)).to_have_attribute("data-status", "complete", timeout=20_000)
    expect(step).to_have_attribute("data-status", "denied")
    expect(step.get_by_role("button", name="Approve")).to_have_count(0)
    assert mcp.record.calls == []


def test_a_step_left_running_by_a_dead_generation_shows_as_stopped(page, daphne_url, owner, mcp):
    from chat import services

    conversation = services.conversation_create(user=owner, title="Weather")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content="Weather in Paris?", model=""
    )
    waiting = {
        "id": "call-1",
        "tool": "demo/weather",
        "arguments": '{"city": "Paris"}',
        "status": "waiting",
        "result": "",
        "duration_ms": None,
        "at": 0,
    }
    services.message_finish(
        message_id=answer.pk, content="", last_seq=0, status="interrupted", tool_steps=[waiting]
    )
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/c/{conversation.pk}/")
    step = page.locator(f"{ANSWER} details.tool-step")
    expect(step).to_have_attribute("data-status", "stopped")
    expect(step.locator(".tool-step-status")).to_have_text("stopped")
    expect(step.get_by_role("button", name="Approve")).to_have_count(0)
