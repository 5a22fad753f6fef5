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
    # The embedding model every chunk of this version has a vector of ("": none, full-text
    # only). Set when the build starts, from AIPORTAL_EMBEDDING_MODEL: one model per version,
    # never a mix; search uses it only while it is still the deployment's model.
    embedding_model = models.CharField(max_length=200, blank=True, default="")

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


class ChunkEmbedding(models.Model):
    """A chunk's vector from one embedding model, stored once and shared by every version
    that links the chunk's document (as documents are shared): a refill that reuses a
    document embeds nothing, and a model change embeds the chunks again under the new model
    while the versions kept for rollback keep their vectors.

    ``vector`` is float32 bytes (little-endian) in this model's state, which is what SQLite
    keeps (sqlite-vec reads that format) and PostgreSQL without pgvector too. On PostgreSQL
    with pgvector, migration 0008 makes the column an untyped ``vector`` and an HNSW index is
    made per (model, dimension) when that pair is first stored: the ORM never reads or writes
    the column there (datasets/services/vectors.py and datasets/selectors/vectors.py do).
    """

    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=200)
    dimension = models.PositiveIntegerField()
    vector = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chunk", "model"], name="dataset_chunk_embedding_once")
        ]

    def __str__(self) -> str:
        return f"{self.model} vector of chunk {self.chunk_id}"


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
