"""Queueing a Celery task by its registered name.

A service queues its task, and the task calls the service: if the service imported its task
module, the two would import each other. So services name the task instead, and each app's
``ready()`` imports its own ``tasks`` module, which registers the task with Celery (and
with the eager runner of the embedded default) before any request can queue one.
"""

from __future__ import annotations

import logging
import threading

from celery import Task, current_app
from django.db import connections

logger = logging.getLogger(__name__)


def task_enqueue(name: str, *args: object, background: bool = False) -> None:
    """Queue task ``name`` with ``args``; a KeyError names a task no app registered.

    ``background``: for a long task that reports its own progress (a refill). Where Celery
    runs tasks eagerly (the embedded default, no REDIS_URL) ``delay`` would run it inside the
    request, which would answer only once it is done; here it runs in a thread of its own
    instead, so the page returns at once and shows the progress live, as with a worker."""
    task = current_app.tasks[name]
    if background and current_app.conf.task_always_eager:
        thread = threading.Thread(
            target=_run_apart, args=(task, args), name=f"eager {name}", daemon=True
        )
        thread.start()
        return
    task.delay(*args)


def _run_apart(task: Task, args: tuple[object, ...]) -> None:
    try:
        result = task.apply(args=args, throw=False)
        if result.failed():
            logger.error("task %s%r failed: %r", task.name, args, result.result)
    finally:
        # This thread's own database connections: nobody else would close them.
        connections.close_all()
