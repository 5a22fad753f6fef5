import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiportal.settings")

app = Celery("aiportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _database_pool_forget(**_: object) -> None:
    """A prefork child inherits the parent's PostgreSQL pool without the pool's threads and
    with sockets the parent still owns. Forget it (closing it would close the parent's
    connections too); the child's first query opens a pool of its own."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    DatabaseWrapper._connection_pools.clear()


@worker_init.connect
def _worker_tracing(**_: object) -> None:
    """Tracing for the worker (aiportal/tracing.py), before its pool forks: the SDK restarts
    its export thread in each child."""
    from aiportal.tracing import tracing_setup

    tracing_setup(process="worker")


@beat_init.connect
def _beat_tracing(**_: object) -> None:
    """Tracing for beat: the tasks it sends start their traces here."""
    from aiportal.tracing import tracing_setup

    tracing_setup(process="beat")
