"""Reading MCP servers and tools for a person: what they may pick, what a turn may offer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from tools.client import ServerConfig
from tools.models import McpServer, McpTool
from tools.secrets import secret_decrypt


@dataclass(frozen=True)
class UsableTool:
    """A tool a turn may offer: its full name, what the model sees, and how to reach it."""

    full_name: str  # "server/tool"
    name: str  # the tool's own name, as the server knows it
    description: str
    input_schema: dict[str, Any]
    server: ServerConfig
    approval: str  # McpServer.Approval
    max_steps: int


def _tools_of(user: User) -> QuerySet[McpTool]:
    # No group, nobody (tools/models.py): the join on the user's groups says it.
    if not user.is_authenticated or not user.is_active:
        return McpTool.objects.none()
    return (
        McpTool.objects.filter(
            enabled=True,
            missing=False,
            server__enabled=True,
            server__groups__in=user.groups.all(),
        )
        .select_related("server")
        .distinct()
        .order_by("server__name", "name")
    )


def tools_for_picker(*, user: User) -> list[dict[str, str]]:
    """The tools ``user`` may pick in the composer: full name, server, description."""
    return [
        {"name": tool.full_name, "server": tool.server.name, "description": tool.description[:300]}
        for tool in _tools_of(user)
    ]


def server_config(server: McpServer) -> ServerConfig:
    headers: tuple[tuple[str, str], ...] = ()
    if server.auth == McpServer.Auth.HEADER and server.header_name:
        headers = ((server.header_name, secret_decrypt(server.header_value_encrypted)),)
    oauth = server.auth == McpServer.Auth.OAUTH
    return ServerConfig(
        id=server.pk,
        name=server.name,
        url=server.url,
        allow_private=server.allow_private,
        timeout=float(server.timeout_seconds),
        max_result_chars=server.max_result_chars,
        headers=headers,
        token_url=server.token_url if oauth else "",
        client_id=server.client_id if oauth else "",
        client_secret=secret_decrypt(server.client_secret_encrypted) if oauth else "",
        scope=server.scope if oauth else "",
    )


def tools_usable(*, user: User, names: list[str]) -> list[UsableTool]:
    """The tools among ``names`` ("server/tool") that ``user`` may use now, in the order
    asked; any other name (unknown, disabled, a server their groups may not use) is left
    out, and the caller refuses or drops it. The assistants call this for their tools too."""
    wanted = [n for n in dict.fromkeys(names) if isinstance(n, str) and "/" in n]
    if not wanted:
        return []
    by_name: dict[str, McpTool] = {}
    for tool in _tools_of(user):
        by_name[tool.full_name] = tool
    configs: dict[int, ServerConfig] = {}
    usable = []
    for name in wanted:
        tool = by_name.get(name)
        if tool is None:
            continue
        server = tool.server
        if server.pk not in configs:
            configs[server.pk] = server_config(server)
        usable.append(
            UsableTool(
                full_name=name,
                name=tool.name,
                description=tool.description,
                input_schema=tool.input_schema,
                server=configs[server.pk],
                approval=server.approval,
                max_steps=server.max_steps,
            )
        )
    return usable
