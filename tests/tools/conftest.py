"""Fixtures for the tools tests: the real MCP server (tests/mcp_server.py) registered as a
server the owner's group may use, its tools refreshed from its own ``tools/list``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from tests.chat.conftest import (  # noqa: F401 (the chat tests' fixtures, autouse ones too)
    _fresh_channel_layer,
    _no_generated_titles,
    _no_idle_sessions_left,
    no_leftover_generations,
)
from tests.mcp_server import mcp, mcp_server  # noqa: F401 (fixtures)
from tools.models import McpServer, McpTool
from tools.services import mcp_server_tools_refresh


def register(url: str, *, name: str = "demo", **fields) -> McpServer:
    """A server at ``url`` that the "tool users" group may use, every tool enabled."""
    group, _ = Group.objects.get_or_create(name="tool users")
    fields.setdefault("allow_private", True)
    server = McpServer.objects.create(name=name, url=url, **fields)
    server.groups.add(group)
    mcp_server_tools_refresh(server=server, actor=None)
    McpTool.objects.filter(server=server).update(enabled=True)
    return server


@pytest.fixture
def tool_users(owner):
    group, _ = Group.objects.get_or_create(name="tool users")
    owner.groups.add(group)
    return group


@pytest.fixture
def demo_server(mcp, tool_users, transactional_db):  # noqa: F811
    return register(mcp.url)
