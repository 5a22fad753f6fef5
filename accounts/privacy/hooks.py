"""Each app's part of "export my data" and "delete my account" (docs/accounts.md, "Your data").

Accounts sits below the feature apps and the gateway, so it never reads their rows: each app
registers a hook from its ``AppConfig.ready()`` (chat/privacy.py, datasets/privacy.py,
gateway/privacy.py, prompts/privacy.py) and the export and the deletion call the hooks.

Order: Django runs ``ready()`` in ``INSTALLED_APPS`` order (gateway, chat, prompts, datasets),
and the hooks are kept in the order they first registered. The export writes them in that
order, which is the archive's layout (``api_keys.json``, ``conversations/``, ``prompts.json``,
``datasets/``); the
deletion runs them in reverse, the apps listed last first, since their rows may refer to
rows of the apps listed before them.

A dataset's own export (docs/datasets.md) is the same job with ``DataExport.dataset_id`` set:
the datasets app registers the writer of that archive here too.

This module holds the registry, which is filled once per process at start-up and only read
after that.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

from accounts.models import User


@dataclass(frozen=True)
class ExportPart:
    """One piece of an app's export: ``write`` adds its members to the archive. A ``counted``
    part (one conversation, one dataset) moves the progress bar one step; a small file such
    as the list of API keys does not."""

    write: Callable[[zipfile.ZipFile], None]
    counted: bool = True


class PrivacyHook(Protocol):
    """What an app registers: its name (the app's label), its parts of a person's export and
    the deletion of its rows of that person."""

    @property
    def name(self) -> str: ...

    def export_parts(self, *, user: User) -> list[ExportPart]:
        """The parts this app writes into the person's archive, in order; the rows are read
        now, each part writes when the archive gets to it."""
        ...

    def delete(self, *, user: User, ip: str | None) -> dict[str, int]:
        """Delete this app's rows of the person inside the deletion's transaction, before the
        user row goes. Returns how many of what went, for the audit event (counts only)."""
        ...


class DatasetArchiveWriter(Protocol):
    """Writes one dataset's export archive (its own zip) to ``out``; raises when the person
    may no longer have it (the build then fails like any other)."""

    def __call__(self, *, user: User, dataset_id: int, out: IO[bytes]) -> None: ...


_hooks: dict[str, PrivacyHook] = {}
_dataset_archive_writers: list[DatasetArchiveWriter] = []


def privacy_hook_register(hook: PrivacyHook) -> None:
    """Add an app's hook. Keyed by its name, so a second ``ready()`` replaces it in place
    instead of exporting or deleting twice."""
    _hooks[hook.name] = hook


def privacy_hook_list() -> list[PrivacyHook]:
    """The registered hooks in registration order (see the module's docstring)."""
    return list(_hooks.values())


def dataset_archive_writer_register(writer: DatasetArchiveWriter) -> None:
    """Set the writer of a dataset's own export archive (one per process; a second call
    replaces it)."""
    _dataset_archive_writers[:] = [writer]


def dataset_archive_write(*, user: User, dataset_id: int, out: IO[bytes]) -> None:
    """Write the export archive of one dataset with the registered writer."""
    if not _dataset_archive_writers:
        raise LookupError("No app registered the writer of a dataset's export archive.")
    _dataset_archive_writers[0](user=user, dataset_id=dataset_id, out=out)
