"""Plain registrations; the admin pages proper (inlines, refill now, live progress,
rollback, document browser) are built on top of these."""

from django.contrib import admin

from datasets.models import (
    Dataset,
    Document,
    Grant,
    RefillJob,
    Source,
    Version,
    VersionDocument,
)

for model in (Dataset, Grant, Source, Version, Document, VersionDocument, RefillJob):
    admin.site.register(model)
