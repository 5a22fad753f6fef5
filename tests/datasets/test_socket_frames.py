"""The datasets' socket frames have one home (datasets/protocol.py): the refill progress the
engine publishes and the admin's job socket relays has the documented shape, and neither the
consumer nor the publisher writes a frame of its own."""

from __future__ import annotations

import ast
from pathlib import Path

from datasets.models import RefillJob
from datasets.protocol import datasets_changed_event, job_frame, job_group

ROOT = Path(__file__).resolve().parents[2]
# docs/datasets.md, "Live progress" and the refill's steps.
PROGRESS = {"type", "job", "dataset", "status", "progress", "counts"}


def _job() -> RefillJob:
    return RefillJob(pk=7, dataset_id=3, status=RefillJob.Status.RUNNING, progress=1 / 3, seen=2)


def test_the_engines_progress_has_the_documented_fields():
    frame = job_frame(job=_job())
    assert set(frame) == PROGRESS
    assert frame["type"] == "datasets.job"
    assert (frame["job"], frame["dataset"], frame["progress"]) == (7, 3, 0.3333)
    assert frame["counts"] == _job().counts


def test_the_sockets_first_frame_adds_the_rows_message():
    frame = job_frame(
        job=RefillJob(pk=7, dataset_id=3, message="Reading the folder"), with_message=True
    )
    assert set(frame) == PROGRESS | {"message"}
    assert frame["message"] == "Reading the folder"


def test_the_groups_and_the_change_event():
    assert job_group(7) == "datasets.job.7"
    assert datasets_changed_event() == {"type": "datasets.changed"}


def test_no_frame_is_written_outside_the_protocol():
    for name in ("datasets/consumers.py", "datasets/services/events.py"):
        tree = ast.parse((ROOT / name).read_text())
        literals = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Dict)
            and any(isinstance(k, ast.Constant) and k.value == "type" for k in node.keys)
        ]
        assert literals == [], f"{name}: build frames in datasets/protocol.py"
