"""Talking to an MCP server, through the official ``mcp`` SDK (never a hand-written protocol):
``tools/list`` for the admin's refresh, ``tools/call`` for a chat.

Every connection goes through ``tools.transport.client_open`` (address rules, pinning). The
code here is plain async and takes a ``ServerConfig`` read from the database beforehand, so a
generation never touches the ORM while it waits for a tool. Each use opens one MCP session
(initialize, then the request) and closes it: a call is rare next to the tokens around it,
and no session outlives the answer that needed it (a stop closes it with the task).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from tools.transport import AddressRefused, client_open, url_refusal


class ToolServerError(Exception):
    """The server could not be reached or refused the request; the message says why."""


@dataclass(frozen=True)
class ServerConfig:
    """What a connection to one server needs, secrets decrypted (tools/selectors.py)."""

    id: int
    name: str
    url: str
    allow_private: bool
    timeout: float
    max_result_chars: int
    headers: tuple[tuple[str, str], ...] = ()
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""


@dataclass(frozen=True)
class ToolListing:
    name: str
    description: str
    input_schema: dict[str, Any]


# OAuth client-credentials tokens, per server and credentials, until a little before expiry.
_tokens: dict[str, tuple[str, float]] = {}
_EXPIRY_MARGIN = 30.0


def tokens_forget() -> None:
    """Drop every cached token (tests; an admin's change of credentials changes the key)."""
    _tokens.clear()


def _token_key(config: ServerConfig) -> str:
    raw = "\0".join([str(config.id), config.token_url, config.client_id, config.client_secret])
    return hashlib.sha256(raw.encode()).hexdigest()


async def _token(config: ServerConfig) -> str:
    key = _token_key(config)
    cached = _tokens.get(key)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    refusal = url_refusal(config.token_url, allow_private=config.allow_private)
    if refusal:
        raise ToolServerError(f"The token URL is refused: {refusal}")
    form = {"grant_type": "client_credentials", "client_id": config.client_id}
    if config.scope:
        form["scope"] = config.scope
    try:
        async with client_open(allow_private=config.allow_private, timeout=config.timeout) as http:
            response = await http.post(
                config.token_url,
                data=form,
                auth=(config.client_id, config.client_secret),
                headers={"Accept": "application/json"},
            )
    except AddressRefused as exc:
        raise ToolServerError(f"The token URL is refused: {exc}") from None
    except httpx.HTTPError as exc:
        raise ToolServerError(f"The token URL did not answer ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise ToolServerError(f"The token URL answered {response.status_code}")
    try:
        body = response.json()
        token = str(body["access_token"])
        lifetime = float(body.get("expires_in") or 300)
    except (ValueError, KeyError, TypeError):
        raise ToolServerError("The token URL's answer has no access_token") from None
    _tokens[key] = (token, time.monotonic() + max(0.0, lifetime - _EXPIRY_MARGIN))
    return token


async def _headers(config: ServerConfig) -> dict[str, str]:
    headers = dict(config.headers)
    if config.token_url:
        headers["Authorization"] = f"Bearer {await _token(config)}"
    return headers


class _Session:
    """``async with _Session(config) as session``: an initialised MCP session."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._stack: Any = None

    async def __aenter__(self) -> ClientSession:
        refusal = url_refusal(self.config.url, allow_private=self.config.allow_private)
        if refusal:
            raise ToolServerError(f"The server's URL is refused: {refusal}")
        headers = await _headers(self.config)
        stack = self._stack = contextlib.AsyncExitStack()
        try:
            http = await stack.enter_async_context(
                client_open(
                    allow_private=self.config.allow_private,
                    timeout=self.config.timeout,
                    headers=headers,
                )
            )
            read, write, _ = await stack.enter_async_context(
                streamable_http_client(self.config.url, http_client=http)
            )
            session = await stack.enter_async_context(
                ClientSession(
                    read, write, read_timeout_seconds=timedelta(seconds=self.config.timeout)
                )
            )
            await session.initialize()
        except BaseException:
            await stack.aclose()
            raise
        return session

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


def _failure(exc: BaseException) -> ToolServerError:
    """The SDK raises its errors inside anyio task groups: find the cause a person can act on."""
    seen: list[BaseException] = [exc]
    while seen:
        current = seen.pop()
        if isinstance(current, ToolServerError):
            return current
        if isinstance(current, AddressRefused):
            return ToolServerError(f"The server's address is refused: {current}")
        if isinstance(current, httpx.HTTPStatusError):
            return ToolServerError(f"The server answered {current.response.status_code}")
        if isinstance(current, httpx.HTTPError):
            return ToolServerError(f"The server could not be reached ({type(current).__name__})")
        seen.extend(getattr(current, "exceptions", ()))
        if current.__cause__ is not None:
            seen.append(current.__cause__)
    return ToolServerError(f"The server failed ({type(exc).__name__}: {exc})"[:300])


async def server_tools_list(config: ServerConfig) -> list[ToolListing]:
    """The server's tools (``tools/list``, every page)."""
    try:
        async with _Session(config) as session:
            listed: list[ToolListing] = []
            cursor: str | None = None
            for _page in range(50):  # a server that pages for ever stops being read
                result = (
                    await session.list_tools(cursor=cursor)
                    if cursor
                    else await session.list_tools()
                )
                listed += [
                    ToolListing(
                        name=tool.name,
                        description=tool.description or "",
                        input_schema=dict(tool.inputSchema or {}),
                    )
                    for tool in result.tools
                ]
                cursor = result.nextCursor
                if not cursor:
                    break
            return listed
    except Exception as exc:
        raise _failure(exc) from None


async def tool_call(
    config: ServerConfig, *, tool: str, arguments: dict[str, Any]
) -> tuple[bool, str]:
    """Call ``tool``: (is_error, text of its result). Raises ToolServerError when the server
    could not be asked; the caller bounds the time (a timeout cancels this)."""
    try:
        async with _Session(config) as session:
            result = await session.call_tool(tool, arguments)
    except Exception as exc:
        raise _failure(exc) from None
    return bool(result.isError), result_text(result)


def result_text(result: CallToolResult) -> str:
    """The result as the model reads it: text parts joined; other parts named, not sent."""
    parts: list[str] = []
    for item in result.content:
        if isinstance(item, TextContent):
            parts.append(item.text)
        else:
            parts.append(f"[{item.type} content omitted]")
    if not parts and result.structuredContent is not None:
        parts.append(json.dumps(result.structuredContent, ensure_ascii=False))
    return "\n".join(parts)
