"""One conversation as a file: Markdown to read, JSON to process. Both hold the branch the
page shows (root to the latest message), never the owner's identity or other conversations."""

from __future__ import annotations

import json
import re
from typing import Any

from chat import selectors
from chat.models import Attachment, Conversation, Message
from chat.selectors.attachments import message_attachments

ROLE_HEADINGS = {"user": "You", "assistant": "Assistant", "system": "System"}


def export_filename(conversation: Conversation, extension: str) -> str:
    """A safe ASCII file name from the title (the header quotes it, so no quotes or slashes)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", conversation.title).strip("-").lower()[:60]
    return f"{stem or 'conversation'}-{conversation.pk}.{extension}"


def message_markdown(message: Message, *, level: int = 2) -> list[str]:
    """One message as Markdown lines under a heading of ``level``: the page's branch export
    and "export my data" (chat/export_tree.py) write messages alike."""
    heading = ROLE_HEADINGS.get(message.role, message.role)
    lines = [f"{'#' * level} {heading}", ""]
    if message.role == Message.Role.USER:
        # Quoted, so that a typed "## Assistant" cannot pass for the next turn.
        lines += [f"> {line}".rstrip() for line in message.content.splitlines()]
        attachments = message_attachments(message)
        if attachments:
            lines.append("")
            # Names are the person's: in code spans, so no markup in one is read as such.
            lines += [f"- Attached {a.kind}: {_code_span(a.name)}" for a in attachments]
    else:
        if message.reasoning:
            # A reasoning model's thinking, quoted under its own label: never read as
            # part of the answer (nor can its text pass for a heading).
            lines += ["> **Thinking**", ">"]
            lines += [f"> {line}".rstrip() for line in message.reasoning.splitlines()]
            lines.append("")
        lines += _steps_markdown(message.tool_steps)
        lines.append(message.content)
        lines += _sources_markdown((message.metrics or {}).get("citations"))
    if message.status != Message.Status.COMPLETE:
        lines += ["", f"*({message.status})*"]
    lines.append("")
    return lines


def _steps_markdown(steps: list[dict[str, Any]] | None) -> list[str]:
    """An answer's tool calls, each quoted under its own label: a tool's result is
    untrusted text and never passes for a heading or for the answer."""
    lines: list[str] = []
    for step in steps or []:
        took = step.get("duration_ms")
        status = f"{step.get('status', '')}, {took} ms" if took is not None else step.get("status")
        lines += [f"> **Tool: {step.get('tool', '')}** ({status})", ">"]
        lines += [
            f"> Arguments: {line}".rstrip() for line in str(step.get("arguments", "")).splitlines()
        ]
        if step.get("result"):
            lines += [">", "> Result:"]
            lines += [f"> {line}".rstrip() for line in str(step["result"]).splitlines()]
        lines.append("")
    return lines


def _sources_markdown(citations: list[dict[str, Any]] | None) -> list[str]:
    """An answer's sources, numbered as it cites them, each with the passage it was given,
    quoted: documents' text never passes for a heading or for the answer."""
    if not citations:
        return []
    lines = ["", "**Sources**", ""]
    for citation in citations:
        title = " ".join(str(citation.get("title") or citation.get("key") or "").split())
        origin = "attached file" if citation.get("attachment") else citation.get("dataset_name")
        label = f"[{citation.get('n')}] {_code_span(title)}" + (
            f" ({_code_span(str(origin))})" if origin else ""
        )
        url = str(citation.get("url") or "")
        if url.startswith(("https://", "http://")):
            label += f" <{url.replace('>', '%3E').replace(' ', '%20')}>"
        lines.append(label)
        passage = str(citation.get("passage") or citation.get("snippet") or "")
        if passage:
            lines += [f"> {line}".rstrip() for line in passage.splitlines()]
        lines.append("")
    return lines[:-1]


def export_heading(conversation: Conversation) -> list[str]:
    """The title, and the assistant the conversation started from (if any, and not deleted)."""
    lines = [f"# {conversation.title or 'Conversation'}", ""]
    if conversation.assistant_id:
        lines += [f"Assistant: {conversation.assistant.name}", ""]
    return lines


def export_markdown(*, conversation: Conversation) -> str:
    lines = export_heading(conversation)
    for message in selectors.conversation_thread(conversation=conversation):
        lines += message_markdown(message)
    return "\n".join(lines).rstrip() + "\n"


def _code_span(text: str) -> str:
    text = " ".join(text.split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def attachment_json(a: Attachment) -> dict[str, Any]:
    """An attachment as exports list it: a document with its extracted text."""
    return {
        "id": a.pk,
        "name": a.name,
        "kind": a.kind,
        "media_type": a.media_type,
        "size": a.size,
        "sha256": a.sha256,
        "text": a.text,
    }


def message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.pk,
        "parent": m.parent_id,
        "role": m.role,
        "status": m.status,
        "model": m.model,
        "content": m.content,
        # A reasoning model's thinking, apart from the answer ("" when none).
        "reasoning": m.reasoning,
        # Its tool calls: tool, arguments, status, result (as saved: capped), duration.
        "tool_steps": m.tool_steps,
        "usage": m.usage,
        # The passages it was given, numbered as it cites them ([] when none).
        "citations": (m.metrics or {}).get("citations", []),
        "created_at": m.created_at.isoformat(),
        "attachments": [attachment_json(a) for a in message_attachments(m)],
    }


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model,
        "tools": list(conversation.tools or []),
        # The assistant it started from, by name (null when none, or deleted since).
        "assistant": conversation.assistant.name if conversation.assistant_id else None,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def export_json(*, conversation: Conversation) -> str:
    thread = selectors.conversation_thread(conversation=conversation)
    data: dict[str, Any] = {
        "format": "aiportal.conversation",
        "version": 1,
        "conversation": conversation_json(conversation),
        "messages": [message_json(m) for m in thread],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)
