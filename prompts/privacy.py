"""The prompt library's part of "export my data" and "delete my account": the person's own
prompts (accounts/privacy/hooks.py says how the hooks are called; registered in
PromptsConfig.ready). Organisation prompts belong to nobody and stay."""

from __future__ import annotations

import zipfile

from accounts.models import User
from accounts.privacy.hooks import ExportPart
from prompts.models import SavedPrompt
from prompts.transfer import prompts_export_json


class PromptsPrivacyHook:
    name = "prompts"

    def export_parts(self, *, user: User) -> list[ExportPart]:
        """``prompts.json``: the person's prompts in the import/export format
        (prompts/transfer.py), so the file can be imported again. One small file: it does
        not move the progress bar."""

        def write(archive: zipfile.ZipFile) -> None:
            archive.writestr("prompts.json", prompts_export_json(user=user))

        return [ExportPart(write=write, counted=False)]

    def delete(self, *, user: User, ip: str | None) -> dict[str, int]:
        """Every prompt of the person, with its sharing (the group links go with it); the
        copies others see were never copies, so they go too."""
        prompts = SavedPrompt.objects.filter(owner=user)
        count = prompts.count()
        prompts.delete()
        return {"prompts": count}
