"""Tools over MCP, as an attacker would try them: a server URL on a private address (refused
unless an admin allowed it, by the fetcher's allow-list or the server's own flag), a name
that resolves to loopback or rebinds between lookups, a tool of a server the person's groups
may not use, and a tool result carrying markup and a prompt injection that must not trigger
another call."""

from __future__ import annotations

import httpcore
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group

from chat.models import Conversation, Message
from datasets.sources import fetch
from tests.chat.conftest import send_frame, signed_in
from tests.mcp_server import INJECTION
from tests.tools.conftest import register
from tools.client import ToolServerError, server_tools_list
from tools.models import McpServer
from tools.selectors import server_config, tools_usable

pytestmark = pytest.mark.django_db(transaction=True)


def _list(server: McpServer):
    return async_to_sync(server_tools_list)(server_config(server))


def test_a_server_on_loopback_is_refused_unless_allowed(mcp, settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = []
    server = McpServer.objects.create(name="local", url=mcp.url)
    with pytest.raises(ToolServerError, match="loopback"):
        _list(server)
    assert mcp.record.calls == [] and mcp.record.authorization == []


def test_the_fetchers_allow_list_lets_an_admin_allow_a_loopback_server(mcp, settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    server = McpServer.objects.create(name="local", url=mcp.url)
    assert "weather" in {tool.name for tool in _list(server)}


def test_the_servers_own_flag_lets_an_admin_allow_a_loopback_server(mcp, settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = []
    server = McpServer.objects.create(name="local", url=mcp.url, allow_private=True)
    assert "weather" in {tool.name for tool in _list(server)}


def test_cloud_metadata_is_refused_even_with_the_flag():
    server = McpServer.objects.create(
        name="meta", url="http://169.254.169.254/mcp", allow_private=True
    )
    with pytest.raises(ToolServerError, match="cloud metadata"):
        _list(server)


def test_a_name_resolving_to_loopback_is_refused(mcp, settings, monkeypatch):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = []
    monkeypatch.setattr(fetch, "resolve", lambda host, port: ["127.0.0.1"])
    server = McpServer.objects.create(name="named", url=f"http://tools.example:{mcp.port}/mcp")
    with pytest.raises(ToolServerError, match="loopback"):
        _list(server)
    assert mcp.record.calls == []


def test_a_rebinding_name_is_checked_and_pinned_on_every_connection(mcp, settings, monkeypatch):
    """The name answers loopback (allowed for it) once, then the cloud metadata address. Each
    connection resolves once and dials the very address it checked: the rebound answer is
    refused, never dialled, and no lookup happens beside the checked one."""
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = ["tools.example"]
    answers = iter([["127.0.0.1"]] + [["169.254.169.254"]] * 50)
    lookups: list[str] = []
    dialled: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    real_connect = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(self, host, port, **kwargs):
        dialled.append(host)
        return await real_connect(self, host, port, **kwargs)

    monkeypatch.setattr(fetch, "resolve", resolve)
    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    server = McpServer.objects.create(name="named", url=f"http://tools.example:{mcp.port}/mcp")
    try:
        _list(server)
    except ToolServerError as exc:
        assert "169.254.169.254" in str(exc) and "cloud metadata" in str(exc)
    assert lookups and set(lookups) == {"tools.example"}
    assert dialled and set(dialled) == {"127.0.0.1"}
    assert len(dialled) <= len(lookups)


def test_the_admin_form_refuses_a_private_url_without_the_flag(admin_client, settings):
    settings.AIPORTAL_FETCH_ALLOW_HOSTS = []
    response = admin_client.post(
        "/admin/tools/mcpserver/add/",
        {
            "name": "evil",
            "url": "http://10.0.0.5/mcp",
            "enabled": "on",
            "auth": "none",
            "approval": "auto",
            "timeout_seconds": 30,
            "max_steps": 5,
            "max_result_chars": 20000,
            "tools-TOTAL_FORMS": 0,
            "tools-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert "private" in response.content.decode()
    assert not McpServer.objects.exists()


# --- IDOR: the tools of a server the person's groups may not use ----------------------------


@pytest.fixture
def two_servers(mcp, owner, outsider):
    """``demo`` for the "tool users" group (the owner's); ``other`` for another group."""
    owner.groups.add(Group.objects.get_or_create(name="tool users")[0])
    register(mcp.url, name="demo")
    other = register(mcp.url, name="other")
    other.groups.set([Group.objects.create(name="finance")])
    return other


def test_only_the_servers_of_a_persons_groups_are_usable(two_servers, owner, member, outsider):
    names = ["demo/weather", "other/weather"]
    assert [t.full_name for t in tools_usable(user=owner, names=names)] == ["demo/weather"]
    assert tools_usable(user=member, names=names) == []
    assert tools_usable(user=outsider, names=names) == []


def test_a_server_with_no_group_is_usable_by_nobody_not_even_staff(mcp, make_user):
    admin = make_user("root@example.com", is_staff=True)
    admin.is_superuser = True
    admin.save()
    server = register(mcp.url, name="closed")
    server.groups.clear()
    assert tools_usable(user=admin, names=["closed/weather"]) == []


@pytest.mark.usefixtures("no_leftover_generations", "workers")
async def test_a_turn_naming_another_groups_tool_is_refused_and_nothing_is_stored(
    two_servers, owner, mcp
):
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame(
                "What is the weather in Paris?",
                tools=["demo/weather", "other/weather"],
                client_id="c-1",
            )
        )
        refused = await socket.until_type("message.error")
    assert refused["message"] is None and refused["code"] == "tool_unavailable"
    assert refused["client_id"] == "c-1"
    assert await database_sync_to_async(Conversation.objects.count)() == 0
    assert await database_sync_to_async(Message.objects.count)() == 0
    assert mcp.record.calls == []


@pytest.mark.usefixtures("no_leftover_generations", "workers")
async def test_a_tool_approval_for_another_persons_answer_is_not_found(
    mcp, owner, outsider, tool_users
):
    await database_sync_to_async(register)(mcp.url, approval=McpServer.Approval.ASK)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is the weather in Paris?", tools=["demo/weather"]))
        answer = await socket.assistant_created()
        asking = await socket.until_type("tool.approval")
        async with signed_in(outsider) as intruder:
            await intruder.send(
                {
                    "type": "chat.tool_approve",
                    "message": answer["id"],
                    "call": asking["step"]["id"],
                    "approve": True,
                }
            )
            refused = await intruder.until_type("message.error")
        assert refused["code"] == "not_found"
        await socket.send({"type": "chat.stop", "message": answer["id"]})
        done = await socket.until_final(answer["id"])
    assert mcp.record.calls == []
    assert done["tool_steps"][0]["status"] == "stopped"


# --- A hostile result ------------------------------------------------------------------------


@pytest.mark.usefixtures("no_leftover_generations", "workers")
async def test_an_injected_result_cannot_call_another_tool_on_its_own(mcp, owner, tool_users):
    """The memo tells the model to call the weather tool. The answer after a tool's result
    is the model's; a further call would be one more step, under the same policy: here the
    server asks, so nothing runs without the person, and the emulated model (like a careful
    one) answers in text."""
    await database_sync_to_async(register)(mcp.url)
    async with signed_in(owner) as socket:
        await socket.send(
            send_frame(
                "Read the latest memo from the office",
                tools=["demo/memo_read", "demo/weather"],
            )
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    assert [name for name, _ in mcp.record.calls] == ["memo_read"]
    [step] = done["tool_steps"]
    assert step["result"] == INJECTION  # kept as text, shown as text (the browser test)
    assert done["status"] == "complete"
