"""Writing MCP servers' state: the admin's refresh of the tool list, the connection test,
secrets set from the admin form, and the audit of each call a chat made."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from tools.client import server_tools_list
from tools.models import McpServer, McpTool
from tools.secrets import secret_encrypt
from tools.selectors import server_config


def mcp_server_secrets_set(
    *, server: McpServer, header_value: str | None = None, client_secret: str | None = None
) -> None:
    """Store new secrets encrypted (None: keep the current one)."""
    if header_value is not None:
        server.header_value_encrypted = secret_encrypt(header_value)
    if client_secret is not None:
        server.client_secret_encrypted = secret_encrypt(client_secret)


def mcp_server_tools_refresh(*, server: McpServer, actor: User | None) -> tuple[int, int]:
    """Read the server's ``tools/list`` and update its tools: new ones are added disabled
    (an admin enables each), known ones get their description and schema again, ones no
    longer listed are marked missing and disabled. Returns (listed, new). Raises
    ToolServerError when the server cannot be asked; nothing changes then."""
    listed = async_to_sync(server_tools_list)(server_config(server))
    new = 0
    with transaction.atomic():
        known = {tool.name: tool for tool in server.tools.select_for_update()}
        for item in listed:
            tool = known.pop(item.name, None)
            if tool is None:
                McpTool.objects.create(
                    server=server,
                    name=item.name[:128],
                    description=item.description,
                    input_schema=item.input_schema,
                )
                new += 1
                continue
            tool.description, tool.input_schema, tool.missing = (
                item.description,
                item.input_schema,
                False,
            )
            tool.save(update_fields=["description", "input_schema", "missing"])
        for tool in known.values():
            tool.missing, tool.enabled = True, False
            tool.save(update_fields=["missing", "enabled"])
        server.tools_refreshed_at = timezone.now()
        server.save(update_fields=["tools_refreshed_at"])
        audit_record(
            actor=actor,
            action="tools.server.refresh",
            target_type="mcp_server",
            target_id=server.pk,
            detail={"listed": len(listed), "new": new},
        )
    return len(listed), new


def tool_call_audit(
    *, user: User, server_id: int, tool: str, message_id: int, status: str, duration_ms: int
) -> None:
    """One audit event per call a chat made (never the arguments or result: they may hold
    what the person typed; those stay in the conversation, deleted with it)."""
    detail: dict[str, Any] = {
        "tool": tool,
        "message": message_id,
        "status": status,
        "duration_ms": duration_ms,
    }
    audit_record(
        actor=user,
        action="tools.call",
        target_type="mcp_server",
        target_id=server_id,
        detail=detail,
    )
