"""Celery tasks for accounts: thin, they take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from accounts.privacy.export import data_export_build, data_exports_expire


# Not acks_late: a worker killed mid-build leaves the export "being built"; the person asks
# again (data_export_request joins only queued or running ones younger than the time limit).
@shared_task(time_limit=3600, soft_time_limit=3540)
def data_export_run(export_id: int) -> str:
    return data_export_build(export_id=export_id)


@shared_task(time_limit=300, soft_time_limit=280)
def data_exports_expire_run() -> int:
    return data_exports_expire()
