"""Refill jobs: one row per requested refill, claimed by a worker under a lease."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RefillJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.CASCADE, related_name="refill_jobs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # An estimate: documents seen so far over the documents the last version had.
    progress = models.FloatField(default=0.0)
    seen = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)  # new content: extracted and chunked
    reused = models.PositiveIntegerField(default=0)  # unchanged content: linked, not copied
    removed = models.PositiveIntegerField(default=0)  # keys of the last version now gone
    failed = models.PositiveIntegerField(default=0)  # documents that could not be read
    # Chunks of the new version given a vector so far, of those that had none for the
    # deployment's embedding model (0 of 0: nothing new, or no embedding model).
    embedded = models.PositiveIntegerField(default=0)
    to_embed = models.PositiveIntegerField(default=0)
    # [{"key": ..., "message": ...}], capped (AIPORTAL_DATASET_JOB_MAX_ERRORS); a whole-source
    # failure is in ``message``.
    errors = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    version = models.ForeignKey(
        "datasets.Version", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            # A second refill request while one is queued or running joins it: the service
            # relies on this index (IntegrityError) to settle two requests racing.
            models.UniqueConstraint(
                fields=["dataset"],
                condition=models.Q(status__in=["queued", "running"]),
                name="dataset_one_active_refill",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0, progress__lte=1.0),
                name="dataset_refill_progress_range",
            ),
            models.CheckConstraint(
                condition=models.Q(status="running") | models.Q(lease_owner=""),
                name="dataset_refill_lease_only_running",
            ),
        ]
        indexes = [models.Index(fields=["dataset", "-created"], name="dataset_refill_recent")]

    def __str__(self) -> str:
        return f"refill {self.pk} of {self.dataset_id} ({self.status})"

    @property
    def counts(self) -> dict[str, int]:
        return {
            "seen": self.seen,
            "added": self.added,
            "reused": self.reused,
            "removed": self.removed,
            "errors": self.failed,
            "embedded": self.embedded,
            "to_embed": self.to_embed,
        }
