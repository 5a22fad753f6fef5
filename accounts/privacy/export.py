"""Export my data: one zip of everything a person has here, built by a Celery job and
downloadable once, by them, within a day (docs/accounts.md, "Your data").

The archive holds ``README.txt`` (what is in it: ``README`` below) and ``profile.json``,
written here: the account (email addresses, names, dates, status; never the password), then
each app's parts, written by the hooks the apps register (accounts/privacy/hooks.py):
- ``api_keys.json``: each key's name, public prefix and dates, never the key or its digest
  (gateway/privacy.py);
- ``conversations/``: each conversation, every branch of it, as JSON and as Markdown
  (chat/privacy.py, chat/export_tree.py);
- ``prompts.json``: the person's saved prompts, in the prompt library's import format
  (prompts/privacy.py, prompts/transfer.py);
- ``datasets/``: each dataset the person owns, as the dataset export's own zip
  (datasets/privacy.py);
- ``assistants.json``: the assistants the person made (assistants/privacy.py).

It is written under a random name in AIPORTAL_DATA_DIR/exports, first to a ``.part`` file
renamed when complete, so a download never meets half an archive.

A dataset's export (docs/datasets.md) is the same job with ``dataset_id`` set: asked for by a
POST, built off the request, served to its requester by a GET that only reads a file already
built (a GET must not build, write or audit: an image in rendered markdown would make every
reader's browser send one). Whether the person manages the dataset is the datasets app's
check, made before it calls these (datasets/privacy.py) and again by the archive's writer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import zipfile
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import IO

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import DataExport, User
from accounts.preferences import preferences_get
from accounts.privacy.hooks import dataset_archive_write, privacy_hook_list
from common.tasks import task_enqueue

logger = logging.getLogger(__name__)

Status = DataExport.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
KEEP_FOR = timedelta(days=1)
# Longer than the task's time limit (accounts/tasks.py).
STALE_AFTER = timedelta(hours=1, minutes=5)


class ExportNotAvailable(Exception):
    """No export of this person's with that id can be downloaded (another person's, used,
    expired, failed or not ready): the page answers 404 for all of them alike."""


def exports_dir() -> Path:
    return Path(settings.DATA_DIR) / "exports"


def _path(export: DataExport) -> Path:
    return exports_dir() / export.file_name


def _dispatch(export_id: int) -> None:
    task_enqueue("accounts.tasks.data_export_run", export_id)


def data_export_request(
    *, user: User, ip: str | None = None, dataset_id: int | None = None
) -> DataExport:
    """Queue an export of the person's data (or of the dataset ``dataset_id``, which the
    datasets app checked they manage), or return the one already queued or being built."""
    with transaction.atomic():
        # Lock the person's row: two clicks at once make one export, not two.
        User.objects.select_for_update().filter(pk=user.pk).first()
        mine = DataExport.objects.filter(user=user, dataset_id=dataset_id)
        # A job whose worker died never finishes: past the task's time limit it has failed.
        mine.filter(status__in=ACTIVE, created__lt=timezone.now() - STALE_AFTER).update(
            status=Status.FAILED, finished=timezone.now(), error="The job stopped."
        )
        export = mine.filter(status__in=ACTIVE).first()
        if export is not None:
            return export
        export = DataExport.objects.create(user=user, dataset_id=dataset_id)
        audit_record(
            actor=user,
            action="dataset.export.request" if dataset_id is not None else "account.export.request",
            target_type="dataset" if dataset_id is not None else "user",
            target_id=dataset_id or user.pk,
            detail={"export": export.pk},
            ip=ip,
        )
        transaction.on_commit(partial(_dispatch, export.pk))
    return export


def data_export_latest(*, user: User, dataset_id: int | None = None) -> DataExport | None:
    """The person's most recent export (of their data, or of the dataset ``dataset_id``). A
    read only: one past its day shows as expired (``shown_status``) and the beat deletes its
    file."""
    return DataExport.objects.filter(user=user, dataset_id=dataset_id).first()


def _profile(user: User) -> dict:
    preferences = preferences_get(user=user)
    return {
        "format": "aiportal.profile",
        "version": 1,
        "id": user.pk,
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "status": user.status,
        "is_staff": user.is_staff,
        "date_joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
        "email_addresses": [
            {"email": a.email, "verified": a.verified, "primary": a.primary}
            for a in EmailAddress.objects.filter(user=user).order_by("email")
        ],
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "preferences": {
            "default_model": preferences.default_model,
            "custom_instructions": preferences.custom_instructions,
            "theme": preferences.theme,
        },
    }


# What the archive holds, at its root: the page (templates/accounts/data.html) says the same.
README = """\
Your data from aiportal
=======================

profile.json
    Your account: email addresses, names, groups, status, dates, preferences (default
    model, custom instructions, theme). Never your password.

conversations/
    Every conversation you have (not those you deleted), two files each:
    - NAME-ID.json: every message of every branch, each with the id of the message it
      answers ("parent"); "branches" lists the ids from the first message to each last one,
      and "shown" says which branch the page opens on.
    - NAME-ID.md: the same to read: every branch written out from the first message.
    An edited question or a regenerated answer starts a new branch; all of them are here.

assistants.json
    The assistants you made: instructions, model, datasets, sampling, starter prompts, and
    whom each is shared with (only when you made some). Each conversation above names the
    assistant it started from.

prompts.json
    Your saved prompts, in the format the prompt library imports (Prompts, Import).

datasets/
    Each dataset you own, as its own zip: its sources, its files and its settings.

api_keys.json
    Your API keys' names, public prefixes and dates. Never the keys themselves.
"""


def _progress(export: DataExport, done: int, total: int) -> None:
    percent = min(99, int(100 * done / total)) if total else 99
    if percent > export.progress:
        export.progress = percent
        DataExport.objects.filter(pk=export.pk, status=Status.RUNNING).update(progress=percent)


def _write_archive(export: DataExport, out: IO[bytes]) -> None:
    if export.dataset_id is not None:
        dataset_archive_write(user=export.user, dataset_id=export.dataset_id, out=out)
        return
    user = export.user
    parts = [part for hook in privacy_hook_list() for part in hook.export_parts(user=user)]
    total = sum(part.counted for part in parts) + 1
    done = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README)
        archive.writestr("profile.json", json.dumps(_profile(user), indent=2, ensure_ascii=False))
        for part in parts:
            part.write(archive)
            if part.counted:
                done += 1
                _progress(export, done, total)


def data_export_build(*, export_id: int) -> str:
    """Run by the Celery job: build the archive of a queued export. Returns what happened
    (for the worker's log); a vanished or already claimed export is skipped."""
    # Claim with a conditional UPDATE: a redelivered message must not build it twice. The
    # name is kept from the start, so a deleted account's half-built file is found too.
    file_name = f"{secrets.token_urlsafe(24)}.zip"
    claimed = DataExport.objects.filter(pk=export_id, status=Status.QUEUED).update(
        status=Status.RUNNING, file_name=file_name
    )
    if not claimed:
        return "skipped"
    export = DataExport.objects.select_related("user").get(pk=export_id)
    partial_path = _path(export).with_suffix(".part")
    try:
        exports_dir().mkdir(parents=True, exist_ok=True)
        with open(partial_path, "wb") as out:
            _write_archive(export, out)
        partial_path.rename(_path(export))
    except Exception:
        logger.exception("data export %s of user %s failed", export.pk, export.user_id)
        with contextlib.suppress(OSError):  # whatever broke the build may break this too
            partial_path.unlink(missing_ok=True)
        DataExport.objects.filter(pk=export.pk).update(
            status=Status.FAILED,
            finished=timezone.now(),
            error="The archive could not be built. Try again; if it fails again, ask an admin.",
        )
        return "failed"
    now = timezone.now()
    ready = DataExport.objects.filter(pk=export.pk, status=Status.RUNNING).update(
        status=Status.READY,
        progress=100,
        size=_path(export).stat().st_size,
        finished=now,
        expires_at=now + KEEP_FOR,
    )
    if not ready:
        # The account was deleted while its archive was being built: nobody may have it.
        _path(export).unlink(missing_ok=True)
        return "vanished"
    return "ready"


def data_export_download(*, user: User, id: int, ip: str | None = None) -> IO[bytes]:
    """Hand the archive over, once: the row is marked downloaded and the file removed (the
    open handle returned still reads it). Anything else is ExportNotAvailable."""
    data_exports_expire(user=user)
    with transaction.atomic():
        export = (
            DataExport.objects.select_for_update()
            .filter(user=user, pk=id, status=Status.READY, dataset_id__isnull=True)
            .first()
        )
        if export is None:
            raise ExportNotAvailable()
        path = _path(export)
        try:
            handle = open(path, "rb")  # noqa: SIM115 -- returned to the response, which closes it
        except FileNotFoundError:
            raise ExportNotAvailable() from None
        export.status = Status.DOWNLOADED
        export.downloaded_at = timezone.now()
        export.save(update_fields=["status", "downloaded_at"])
        audit_record(
            actor=user,
            action="account.export.download",
            target_type="user",
            target_id=user.pk,
            detail={"export": export.pk, "size": export.size},
            ip=ip,
        )
        transaction.on_commit(partial(path.unlink, missing_ok=True))
    return handle


def data_export_file_open(*, user: User, dataset_id: int, id: int) -> IO[bytes]:
    """The built archive of a dataset's export, for a GET: the person's own, of this dataset,
    ready and within its day (that they still manage the dataset is checked by the datasets
    app before it calls this). Reads only (no row written, no audit event: the request was
    audited). Anything else is ExportNotAvailable."""
    export = DataExport.objects.filter(
        user=user, pk=id, dataset_id=dataset_id, status=Status.READY, expires_at__gt=timezone.now()
    ).first()
    if export is None:
        raise ExportNotAvailable()
    try:
        # Returned to the response, which closes it.
        return open(_path(export), "rb")
    except FileNotFoundError:
        raise ExportNotAvailable() from None


def dataset_exports_discard(*, dataset_id: int) -> None:
    """Delete every export of a dataset being deleted: its rows, and their files once the
    deletion commits."""
    exports = DataExport.objects.filter(dataset_id=dataset_id)
    names = [name for name in exports.values_list("file_name", flat=True) if name]
    exports.delete()

    def unlink() -> None:
        for name in names:
            (exports_dir() / name).unlink(missing_ok=True)
            (exports_dir() / name).with_suffix(".part").unlink(missing_ok=True)

    transaction.on_commit(unlink)


def data_exports_expire(*, user: User | None = None) -> int:
    """Mark the ready exports past their day expired and delete their files (one person's,
    or everyone's from the beat). Returns how many expired."""
    expired = DataExport.objects.filter(status=Status.READY, expires_at__lte=timezone.now())
    if user is not None:
        expired = expired.filter(user=user)
    count = 0
    for export in expired:
        if DataExport.objects.filter(pk=export.pk, status=Status.READY).update(
            status=Status.EXPIRED
        ):
            _path(export).unlink(missing_ok=True)
            count += 1
    return count


def data_exports_discard(*, user: User) -> None:
    """Delete every archive file of this person (their account is being deleted)."""
    for file_name in (
        DataExport.objects.filter(user=user)
        .exclude(file_name="")
        .values_list("file_name", flat=True)
    ):
        (exports_dir() / file_name).unlink(missing_ok=True)
        (exports_dir() / file_name).with_suffix(".part").unlink(missing_ok=True)
