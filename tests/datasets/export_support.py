"""A dataset's export as the page gets it: POST to start it, the job (run here, as the Celery
worker would), then the GET of the built file."""

from __future__ import annotations

from django.test import Client

from accounts.models import DataExport
from accounts.privacy.export import data_export_build


def dataset_export_fetch(client: Client, dataset, user):
    """The download's response (an attachment), or the first refusal on the way."""
    started = client.post(f"/datasets/{dataset.pk}/export/")
    if started.status_code != 302:
        return started
    export = DataExport.objects.filter(user=user, dataset_id=dataset.pk).first()
    data_export_build(export_id=export.pk)
    return client.get(f"/datasets/{dataset.pk}/exports/{export.pk}.zip")
