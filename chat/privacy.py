"""Chat's part of "export my data" and "delete my account": the person's conversations
(accounts/privacy/hooks.py says how the hooks are called; registered in ChatConfig.ready)."""

from __future__ import annotations

import re
import zipfile

from accounts.models import User
from accounts.privacy.hooks import ExportPart
from chat.export import export_filename
from chat.export_tree import export_tree_json, export_tree_markdown
from chat.models import Attachment, Conversation
from chat.selectors.attachments import attachment_path


def _conversation_part(conversation: Conversation) -> ExportPart:
    def write(archive: zipfile.ZipFile) -> None:
        name = f"conversations/{export_filename(conversation, 'json')}"
        archive.writestr(name, export_tree_json(conversation=conversation))
        name = f"conversations/{export_filename(conversation, 'md')}"
        archive.writestr(name, export_tree_markdown(conversation=conversation))
        # The attached files as kept (images re-encoded), beside the conversation; the
        # JSON lists each by its id, the file's name starts with it.
        folder = f"conversations/{export_filename(conversation, 'json')[:-5]}-attachments"
        for attachment in Attachment.objects.filter(
            conversation=conversation, message__isnull=False
        ):
            path = attachment_path(attachment)
            if path.is_file():
                archive.write(path, f"{folder}/{attachment.pk}-{_safe_name(attachment.name)}")

    return ExportPart(write=write)


def _safe_name(name: str) -> str:
    """A file name that is one plain entry in any unzip tool: no folders, no dot files."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")[:120] or "file"


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
        included, with their messages and their attachments (rows and files, unsent ones
        too; chat/services/attachments.py unlinks the files once this commits)."""
        conversations = Conversation.objects.filter(owner=user)
        count = conversations.count()
        attachments = Attachment.objects.filter(owner=user)
        files = attachments.count()
        conversations.delete()  # their attachments with them
        attachments.delete()  # and those never sent
        return {"conversations": count, "attachments": files}
