"""The gateway's part of "export my data" and "delete my account": the person's API keys
(accounts/privacy/hooks.py says how the hooks are called; registered in GatewayConfig.ready)."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime

from django.db import transaction

from accounts.models import User
from accounts.privacy.hooks import ExportPart
from gateway.callers import policies_version_bump
from gateway.models import ApiKey


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _api_keys(user: User) -> list[dict[str, str | None]]:
    return [
        {
            "name": key.name,
            "key": key.display,  # the public prefix only
            "created_at": _when(key.created_at),
            "last_used_at": _when(key.last_used_at),
            "expires_at": _when(key.expires_at),
            "revoked_at": _when(key.revoked_at),
        }
        for key in ApiKey.objects.filter(user=user).order_by("created_at")
    ]


class GatewayPrivacyHook:
    name = "gateway"

    def export_parts(self, *, user: User) -> list[ExportPart]:
        """``api_keys.json``: each key's name, public prefix and dates, never the key or its
        digest. One small file: it does not move the progress bar."""

        def write(archive: zipfile.ZipFile) -> None:
            archive.writestr("api_keys.json", json.dumps(_api_keys(user), indent=2))

        return [ExportPart(write=write, counted=False)]

    def delete(self, *, user: User, ip: str | None) -> dict[str, int]:
        """Every key of the person. Web processes cache the keys they have seen: once the
        deletion commits they are told to look again."""
        keys = ApiKey.objects.filter(user=user)
        count = keys.count()
        keys.delete()
        transaction.on_commit(policies_version_bump)
        return {"api_keys": count}
