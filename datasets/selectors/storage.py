"""How much of the upload quotas a person and a dataset use, and how much room is left.

Every uploaded file on disk has a ``StoredFile`` row (written in the transaction that names it
in the upload source) and counts for the dataset it is in and the person who uploaded it,
until it is deleted: a file replaced by a new upload of the same name is deleted once the
upload commits (``stored_files_sweep``), after a running refill if one is reading it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat

from accounts.models import User
from datasets.models import Dataset, StoredFile


@dataclass(frozen=True, slots=True)
class Room:
    bytes: int | None  # how many more bytes fit; None: no quota applies
    full: str  # what to tell a person whose upload does not fit


def storage_used(*, user: User | None = None, dataset: Dataset | None = None) -> int:
    """Bytes of uploaded files kept for ``user`` (all datasets) or in ``dataset``."""
    rows = StoredFile.objects.all()
    if user is not None:
        rows = rows.filter(uploaded_by=user)
    if dataset is not None:
        rows = rows.filter(dataset=dataset)
    return rows.aggregate(total=Sum("size"))["total"] or 0


def upload_room(*, user: User, dataset: Dataset) -> Room:
    """The room left under the tighter of the two quotas (0 in a setting: no quota)."""
    limits = []
    per_dataset = settings.AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES
    if per_dataset:
        left = max(0, per_dataset - storage_used(dataset=dataset))
        limits.append(
            Room(
                bytes=left,
                full=f"the dataset “{dataset.name}” has {filesizeformat(left)} left of its "
                f"{filesizeformat(per_dataset)} storage quota; remove files from it, or ask an "
                "admin to raise AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES",
            )
        )
    per_user = settings.AIPORTAL_UPLOAD_QUOTA_USER_BYTES
    if per_user:
        left = max(0, per_user - storage_used(user=user))
        limits.append(
            Room(
                bytes=left,
                full=f"you have {filesizeformat(left)} left of your "
                f"{filesizeformat(per_user)} storage quota for uploads; remove files you "
                "uploaded, or ask an admin to raise AIPORTAL_UPLOAD_QUOTA_USER_BYTES",
            )
        )
    if not limits:
        return Room(bytes=None, full="")
    return min(limits, key=lambda room: room.bytes)
