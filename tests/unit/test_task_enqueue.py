"""Where Celery runs tasks eagerly (the embedded default), a task queued ``background`` runs
in a thread of its own: the request that queued it returns at once (a refill's page shows its
progress live instead of loading until the refill is done)."""

from __future__ import annotations

import threading

import pytest
from celery import current_app, shared_task

from common.tasks import task_enqueue

release = threading.Event()
done = threading.Event()
seen: list[str] = []


@shared_task(name="tests.unit.test_task_enqueue.held")
def held(tag: str) -> None:
    release.wait(10)
    seen.append(tag)
    done.set()


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)
    release.clear()
    done.clear()
    seen.clear()
    yield
    release.set()


def test_a_background_task_does_not_hold_up_the_caller(eager):
    task_enqueue("tests.unit.test_task_enqueue.held", "refill", background=True)
    assert seen == []  # returned while the task still waits
    release.set()
    assert done.wait(10)
    assert seen == ["refill"]


def test_other_tasks_still_run_in_place(eager):
    release.set()
    task_enqueue("tests.unit.test_task_enqueue.held", "export")
    assert seen == ["export"]
