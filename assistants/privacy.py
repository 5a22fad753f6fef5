"""The assistants' part of "export my data" and "delete my account" (accounts/privacy/hooks.py
says how the hooks are called; registered in AssistantsConfig.ready): the person's own
assistants, as one JSON file, and their deletion with the account (grants they had on
others' assistants go with the account too, by cascade)."""

from __future__ import annotations

import json
import zipfile
from typing import Any

from accounts.models import User
from accounts.privacy.hooks import ExportPart
from assistants.models import Assistant, Level


def assistant_export_json(assistant: Assistant) -> dict[str, Any]:
    return {
        "id": assistant.pk,
        "name": assistant.name,
        "icon": assistant.icon,
        "colour": assistant.colour,
        "description": assistant.description,
        "system_prompt": assistant.system_prompt,
        "model": assistant.model,
        "datasets": list(assistant.datasets or []),
        "tools": list(assistant.tools or []),
        "temperature": assistant.temperature,
        "top_p": assistant.top_p,
        "max_tokens": assistant.max_tokens,
        "starter_prompts": list(assistant.starter_prompts or []),
        "shared_with": [
            {
                "user": grant.user.email if grant.user_id else None,
                "group": grant.group.name if grant.group_id else None,
                "level": Level(grant.level).name.lower(),
            }
            for grant in assistant.grants.select_related("user", "group").order_by("id")
        ],
        "created": assistant.created.isoformat(),
        "updated": assistant.updated.isoformat(),
    }


class AssistantsPrivacyHook:
    name = "assistants"

    def export_parts(self, *, user: User) -> list[ExportPart]:
        """The person's own assistants, with whom each is shared, in assistants.json; none
        written when they have none."""
        assistants = list(Assistant.objects.filter(owner=user).order_by("pk"))
        if not assistants:
            return []

        def write(archive: zipfile.ZipFile) -> None:
            data = {
                "format": "aiportal.assistants",
                "version": 1,
                "assistants": [assistant_export_json(a) for a in assistants],
            }
            archive.writestr("assistants.json", json.dumps(data, ensure_ascii=False, indent=2))

        return [ExportPart(write=write, counted=False)]

    def delete(self, *, user: User, ip: str | None) -> dict[str, int]:
        """Every assistant the person owns, with its grants; conversations that started from
        one (others' included) keep their messages and lose the link (SET_NULL)."""
        owned = Assistant.objects.filter(owner=user)
        count = owned.count()
        owned.delete()
        return {"assistants": count}
