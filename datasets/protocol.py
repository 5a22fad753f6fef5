"""The datasets' realtime frames and their group, built here and nowhere else (as the chat's
are in chat/protocol.py): a refill job's progress, which the admin's job socket
(``ws/admin/jobs/<id>/``, datasets/consumers.py) relays as it arrives, and the event that
tells a user's pages their datasets or grants changed. Published by
datasets/services/events.py.

The job frame carries no ``v``: the admin's page is served with the same code and is not a
versioned API (docs/datasets.md, "Live progress").
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from datasets.models import RefillJob


def job_group(job_id: int) -> str:
    """A page showing a refill listens here for ``datasets.job`` progress."""
    return f"datasets.job.{job_id}"


class JobFrame(TypedDict):
    type: Literal["datasets.job"]
    job: int
    dataset: int
    status: str
    progress: float
    counts: dict[str, Any]
    message: NotRequired[str]


def job_frame(*, job: RefillJob, with_message: bool = False) -> JobFrame:
    """A refill job's progress. ``with_message``: its row's ``message`` too, for the frame
    the socket sends first and for the admin's progress JSON (the engine's events leave it
    out)."""
    frame: JobFrame = {
        "type": "datasets.job",
        "job": job.pk,
        "dataset": job.dataset_id,
        "status": job.status,
        "progress": round(job.progress, 4),
        "counts": job.counts,
    }
    if with_message:
        frame["message"] = job.message
    return frame


class DatasetsChangedEvent(TypedDict):
    type: Literal["datasets.changed"]


def datasets_changed_event() -> DatasetsChangedEvent:
    """To a user's group (``common.websockets.datasets_group``): what they may see changed.
    The chat's socket passes it on as its own ``datasets.changed`` frame."""
    return {"type": "datasets.changed"}
