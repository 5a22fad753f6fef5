"""Queueing a Celery task by its registered name.

A service queues its task, and the task calls the service: if the service imported its task
module, the two would import each other. So services name the task instead, and each app's
``ready()`` imports its own ``tasks`` module, which registers the task with Celery (and
with the eager runner of the embedded default) before any request can queue one.
"""

from __future__ import annotations

from celery import current_app


def task_enqueue(name: str, *args: object) -> None:
    """Queue task ``name`` with ``args``; a KeyError names a task no app registered."""
    current_app.tasks[name].delay(*args)
