"""MCP servers as an admin sets them up: secrets encrypted at rest and sent as configured
(static header, OAuth client credentials with the token cached), the tool list refreshed from
the server, and the admin's actions."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from accounts.models import AuditEvent
from tools.client import server_tools_list, tool_call
from tools.models import McpServer, McpTool
from tools.selectors import server_config
from tools.services import mcp_server_secrets_set, mcp_server_tools_refresh

pytestmark = pytest.mark.django_db


def _server(mcp, **fields) -> McpServer:
    return McpServer.objects.create(name="demo", url=mcp.url, allow_private=True, **fields)


def test_a_static_header_is_stored_encrypted_and_sent(mcp):
    server = _server(mcp, auth=McpServer.Auth.HEADER, header_name="X-Api-Key")
    mcp_server_secrets_set(server=server, header_value="key-123")
    server.save()
    stored = McpServer.objects.values_list("header_value_encrypted", flat=True).get()
    assert stored and "key-123" not in stored
    async_to_sync(server_tools_list)(server_config(McpServer.objects.get()))
    assert mcp.record.api_keys and set(mcp.record.api_keys) == {"key-123"}


def test_oauth_client_credentials_fetch_a_token_once_and_reuse_it(mcp):
    server = _server(
        mcp,
        auth=McpServer.Auth.OAUTH,
        token_url=mcp.url.replace("/mcp", "/token"),
        client_id="portal",
    )
    mcp_server_secrets_set(server=server, client_secret="client-secret-1")
    server.save()
    config = server_config(McpServer.objects.get())
    assert (
        "client-secret-1"
        not in McpServer.objects.values_list("client_secret_encrypted", flat=True).get()
    )
    async_to_sync(server_tools_list)(config)
    error, text = async_to_sync(tool_call)(config, tool="weather", arguments={"city": "Oslo"})
    assert (error, text) == (False, "Sunny and 21 degrees in Oslo.")
    assert mcp.record.tokens_issued == 1
    assert set(mcp.record.authorization) == {"Bearer token-1"}


def test_a_wrong_client_secret_is_a_clear_error(mcp):
    from tools.client import ToolServerError

    server = _server(
        mcp,
        auth=McpServer.Auth.OAUTH,
        token_url=mcp.url.replace("/mcp", "/token"),
        client_id="portal",
    )
    mcp_server_secrets_set(server=server, client_secret="wrong")
    server.save()
    with pytest.raises(ToolServerError, match="token URL answered 401"):
        async_to_sync(server_tools_list)(server_config(server))
    assert mcp.record.authorization == []


def test_a_refresh_adds_new_tools_disabled_and_marks_vanished_ones(mcp):
    server = _server(mcp)
    McpTool.objects.create(server=server, name="retired", enabled=True)
    listed, new = mcp_server_tools_refresh(server=server, actor=None)
    tools = {t.name: t for t in McpTool.objects.filter(server=server)}
    assert listed == 5 and new == 5
    assert not tools["weather"].enabled and tools["weather"].input_schema["required"] == ["city"]
    assert tools["retired"].missing and not tools["retired"].enabled
    assert AuditEvent.objects.filter(action="tools.server.refresh").count() == 1


def test_the_admin_refreshes_tools_and_tests_the_connection(admin_client, mcp):
    server = _server(mcp)
    url = "/admin/tools/mcpserver/"
    response = admin_client.post(
        url, {"action": "refresh_tools", "_selected_action": [server.pk]}, follow=True
    )
    assert "lists 5 tools, 5 new" in response.content.decode()
    response = admin_client.post(
        url, {"action": "test_connection", "_selected_action": [server.pk]}, follow=True
    )
    assert "answered: 5 tools" in response.content.decode()
    page = admin_client.get(f"{url}{server.pk}/change/").content.decode()
    assert "weather" in page and "Current weather conditions" in page


def test_the_admin_never_shows_a_stored_secret(admin_client, mcp):
    server = _server(mcp, auth=McpServer.Auth.HEADER, header_name="X-Api-Key")
    mcp_server_secrets_set(server=server, header_value="key-123")
    server.save()
    page = admin_client.get(f"/admin/tools/mcpserver/{server.pk}/change/").content.decode()
    assert "key-123" not in page and server.header_value_encrypted not in page
