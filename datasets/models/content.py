"""Immutable versions and the content they are made of.

A document is stored once per dataset per content checksum; a version links documents under
keys (``VersionDocument``). A refill that finds a document unchanged links the same row into
the new version: nothing is copied, extracted or chunked again. Full-text search columns are
not declared here: they differ by database and are made by migrations 0002 and 0007 (a
generated ``tsvector`` of a chunk's context and text with a GIN index on PostgreSQL, an FTS5
table kept in sync by triggers on SQLite); ``datasets/selectors/search.py`` reads them.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Version(models.Model):
    class Status(models.TextChoices):
        BUILDING = "building", _("building")
        ACTIVE = "active", _("active")
        RETIRED = "retired", _("retired")
        FAILED = "failed", _("failed")

    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    documents = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_number"),
            # One build at a time: a job that takes over a dead worker's job fails the old
            # building version in the same transaction that creates its own.
            models.UniqueConstraint(
                fields=["dataset"],
                condition=models.Q(status="building"),
                name="dataset_one_building_version",
            ),
            models.UniqueConstraint(
                fields=["dataset"],
                condition=models.Q(status="active"),
                name="dataset_one_active_version",
            ),
        ]

    def __str__(self) -> str:
        return f"version {self.number} of {self.dataset_id} ({self.status})"


class Document(models.Model):
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.CASCADE, related_name="documents"
    )
    checksum = models.CharField(max_length=64)  # sha256 hex of the raw bytes
    content_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()  # raw bytes
    text = models.TextField()  # extracted plain text: untrusted
    # Its chunks, counted when they were written with it: a version's total is then a sum
    # over its documents, not a count over every chunk of every dataset.
    chunk_count = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "checksum"], name="dataset_document_checksum"
            )
        ]

    def __str__(self) -> str:
        return f"document {self.checksum[:12]} of {self.dataset_id}"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    # The document's title and the headings above the chunk ("Guide > Install > Linux"),
    # from the document itself: stored with the chunk, searched with its text (migration
    # 0007), and reused with it when a refill finds the document unchanged.
    context = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="dataset_chunk_ordinal")
        ]

    def __str__(self) -> str:
        return f"chunk {self.ordinal} of {self.document_id}"


class VersionDocument(models.Model):
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="entries")
    # RESTRICT: a document still in some version cannot be deleted on its own (only the
    # orphan sweep after a refill deletes documents), but deleting the dataset takes both.
    document = models.ForeignKey(Document, on_delete=models.RESTRICT, related_name="entries")
    key = models.CharField(max_length=2000)
    title = models.CharField(max_length=500)
    url = models.CharField(max_length=2000, blank=True)

    class Meta:
        ordering = ["version", "key"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="dataset_version_key")
        ]
        indexes = [models.Index(fields=["document", "version"], name="dataset_vdoc_document")]

    def __str__(self) -> str:
        return self.key
