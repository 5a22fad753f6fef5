"""What the dataset pages do beyond CORE's services: uploads of many files at once, export of
a dataset, deletion with every stored file, and the audit trail of all of it.

Every function checks the acting user's live level first (``dataset_level_require``: no level
at all is ``Dataset.DoesNotExist``, a 404) and records an ``AuditEvent`` in the same
transaction as the change.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import IO

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import User
from accounts.privacy.export import dataset_exports_discard
from datasets.models import Dataset, Level, Source, StoredFile, VersionDocument
from datasets.selectors import dataset_level_require
from datasets.selectors.storage import upload_room
from datasets.services.events import datasets_changed_publish
from datasets.services.storage import dataset_files_dir, stored_files_sweep
from datasets.sources import source_config_check, upload_store
from datasets.sources.base import SourceError
from datasets.sources.uploads import upload_name_clean


@dataclass
class UploadResult:
    stored: list[str] = field(default_factory=list)  # original names now in the source
    refused: list[str] = field(default_factory=list)  # one message per file refused


@dataclass(frozen=True)
class UploadFile:
    name: str
    chunks: Iterable[bytes]


class _Full(Exception):
    pass


def dataset_files_upload(
    *, dataset: Dataset, user: User, files: list[UploadFile], ip: str | None = None
) -> UploadResult:
    """Store each file (edit level) and add the ones accepted to the dataset's upload source
    (made if missing). A file refused (too big, a type aiportal does not read, no room left
    under the storage quotas) is reported by name and leaves nothing behind; the others are
    kept. A file with the name of one already there replaces it: the old file is deleted
    once this commits (``stored_files_sweep``), its documents leave at the next refill."""
    dataset_level_require(user=user, dataset=dataset, level=Level.EDIT)
    result = UploadResult()
    added: list[dict] = []
    files_dir = dataset_files_dir(dataset=dataset)
    room = upload_room(user=user, dataset=dataset)
    left = room.bytes
    for item in files:
        try:
            stored = upload_store(
                files_dir=files_dir, name=item.name, chunks=item.chunks, room=left, full=room.full
            )
        except SourceError as exc:
            result.refused.append(exc.message)
            continue
        size = (files_dir / stored).stat().st_size
        if left is not None:
            left -= size
        added.append({"stored": stored, "name": upload_name_clean(item.name), "size": size})
    if not added:
        return result
    try:
        with transaction.atomic():
            # Both quotas are judged again under locks: two uploads at once (two tabs, two
            # datasets of one person) must not both fit in the same room.
            Dataset.objects.select_for_update().get(pk=dataset.pk)
            User.objects.select_for_update().get(pk=user.pk)
            room_now = upload_room(user=user, dataset=dataset)
            if room_now.bytes is not None and sum(e["size"] for e in added) > room_now.bytes:
                raise _Full(room_now.full)
            source = (
                Source.objects.select_for_update()
                .filter(dataset=dataset, kind=Source.Kind.UPLOAD)
                .first()
            )
            current = list(source.config.get("files", [])) if source else []
            names = {entry["name"] for entry in added}
            config = source_config_check(
                kind="upload",
                config={"files": [f for f in current if f["name"] not in names] + added},
            )
            if source is None:
                source = Source.objects.create(
                    dataset=dataset, kind=Source.Kind.UPLOAD, config=config, added_by=user
                )
            else:
                source.config = config
                source.save(update_fields=["config"])
            StoredFile.objects.bulk_create(
                StoredFile(
                    dataset=dataset,
                    stored=entry["stored"],
                    name=entry["name"],
                    size=entry["size"],
                    uploaded_by=user,
                )
                for entry in added
            )
            audit_record(
                actor=user,
                action="dataset.upload",
                target_type="dataset",
                target_id=dataset.pk,
                detail={"files": [entry["name"] for entry in added]},
                ip=ip,
            )
            transaction.on_commit(partial(stored_files_sweep, dataset=dataset))
    except (ValueError, _Full) as exc:
        # Too many files for one source, or no room left: none of this batch is kept, and
        # the message says why.
        for entry in added:
            (files_dir / entry["stored"]).unlink(missing_ok=True)
        result.refused.append(str(exc) if isinstance(exc, ValueError) else f"not stored: {exc}")
        return result
    result.stored = [entry["name"] for entry in added]
    return result


def dataset_delete(*, dataset: Dataset, user: User, ip: str | None = None) -> None:
    """Delete the dataset (manage level) with every version, document, chunk, grant, source
    and job, then its stored files once the rows are gone for good (a rollback keeps both)."""
    dataset_level_require(user=user, dataset=dataset, level=Level.MANAGE)
    files_dir = dataset_files_dir(dataset=dataset)
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        concerned = set(locked.grants.exclude(user=None).values_list("user_id", flat=True))
        concerned |= set(
            User.objects.filter(groups__dataset_grants__dataset=locked).values_list("pk", flat=True)
        )
        concerned.add(locked.owner_id)
        audit_record(
            actor=user,
            action="dataset.delete",
            target_type="dataset",
            target_id=locked.pk,
            detail={"name": locked.name, "slug": locked.slug},
            ip=ip,
        )
        # The active version points into the versions: unhook it, then documents are
        # RESTRICTed by version entries, so entries go first.
        Dataset.objects.filter(pk=locked.pk).update(active_version=None)
        VersionDocument.objects.filter(version__dataset=locked).delete()
        # Its exports too (rows now, files at commit).
        dataset_exports_discard(dataset_id=locked.pk)
        locked.delete()
        datasets_changed_publish(user_ids=concerned)
        transaction.on_commit(lambda: shutil.rmtree(files_dir, ignore_errors=True))


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _member_name(number: int, key: str) -> str:
    return f"{number:05}-{_UNSAFE.sub('_', key)[:120]}.txt"


def dataset_export(*, dataset: Dataset, user: User, ip: str | None = None) -> IO[bytes]:
    """A zip of the dataset (manage level): ``dataset.json`` (settings, sources, versions and
    the active version's documents with their keys, titles, addresses and checksums), the
    extracted text of each of those documents under ``documents/`` and the uploaded files as
    they were sent under ``files/``. Built into a temporary file (spooled to disk past 32 MiB),
    returned at its start; the caller closes it. Costly: only a Celery job calls it (the
    dataset's export and "export my data", datasets/privacy.py), never a request."""
    dataset_level_require(user=user, dataset=dataset, level=Level.MANAGE)
    dataset.refresh_from_db()
    files_dir = dataset_files_dir(dataset=dataset)
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 -- returned
    documents = []
    uploads = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entries = (
            VersionDocument.objects.filter(version_id=dataset.active_version_id)
            .select_related("document")
            .order_by("key")
        )
        for number, entry in enumerate(entries.iterator(chunk_size=200), start=1):
            member = f"documents/{_member_name(number, entry.key)}"
            archive.writestr(member, entry.document.text)
            documents.append(
                {
                    "key": entry.key,
                    "title": entry.title,
                    "url": entry.url,
                    "content_type": entry.document.content_type,
                    "checksum": entry.document.checksum,
                    "size": entry.document.size,
                    "text": member,
                }
            )
        for source in dataset.sources.filter(kind=Source.Kind.UPLOAD):
            for item in source.config.get("files", []):
                path = files_dir / item["stored"]
                if path.is_file():
                    member = f"files/{item['stored']}"
                    archive.write(path, member)
                    uploads.append({"name": item["name"], "file": member})
        meta = {
            "exported_at": timezone.now().isoformat(),
            "dataset": {
                "id": dataset.pk,
                "name": dataset.name,
                "slug": dataset.slug,
                "description": dataset.description,
                "owner": dataset.owner.email,
                "allowed_regions": dataset.allowed_regions,
                "schedule_minutes": dataset.schedule_minutes,
                "created": dataset.created.isoformat(),
            },
            "sources": [
                {"kind": s.kind, "config": s.config} for s in dataset.sources.order_by("id")
            ],
            "versions": [
                {
                    "number": v.number,
                    "status": v.status,
                    "created": v.created.isoformat(),
                    "documents": v.documents,
                    "chunks": v.chunks,
                }
                for v in dataset.versions.order_by("number")
            ],
            "active_version": dataset.active_version.number if dataset.active_version else None,
            "documents": documents,
            "uploads": uploads,
        }
        archive.writestr("dataset.json", json.dumps(meta, indent=2, ensure_ascii=False))
    audit_record(
        actor=user,
        action="dataset.export",
        target_type="dataset",
        target_id=dataset.pk,
        detail={"documents": len(documents), "uploads": len(uploads)},
        ip=ip,
    )
    out.seek(0)
    return out
