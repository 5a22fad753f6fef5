"""Chat's part of "export my data" and "delete my account": the person's conversations
(accounts/privacy/hooks.py says how the hooks are called; registered in ChatConfig.ready)."""

from __future__ import annotations

import zipfile

from accounts.models import User
from accounts.privacy.hooks import ExportPart
from chat.export import export_filename
from chat.export_tree import export_tree_json, export_tree_markdown
from chat.models import Conversation


def _conversation_part(conversation: Conversation) -> ExportPart:
    def write(archive: zipfile.ZipFile) -> None:
        name = f"conversations/{export_filename(conversation, 'json')}"
        archive.writestr(name, export_tree_json(conversation=conversation))
        name = f"conversations/{export_filename(conversation, 'md')}"
        archive.writestr(name, export_tree_markdown(conversation=conversation))

    return ExportPart(write=write)


class ChatPrivacyHook:
    name = "chat"

    def export_parts(self, *, user: User) -> list[ExportPart]:
        """Each conversation, every branch of it, as JSON and as Markdown
        (chat/export_tree.py), one part each. Deleted ones still waiting out their undo
        window are left out, like the page."""
        conversations = Conversation.objects.filter(owner=user, deleted_at__isnull=True)
        return [_conversation_part(conversation) for conversation in conversations]

    def delete(self, *, user: User, ip: str | None) -> dict[str, int]:
        """Every conversation of the person, the deleted ones waiting out their undo window
        included, with their messages."""
        conversations = Conversation.objects.filter(owner=user)
        count = conversations.count()
        conversations.delete()
        return {"conversations": count}
