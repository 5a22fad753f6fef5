"""The worker pool as admins manage it, and who may use which model.

``Worker`` rows join the workers from ``AIPORTAL_WORKERS`` (a row with the same URL wins) and
may name a DNS entry (``dns+http://vllm:8000``) that stands for every address the name
resolves to; gateway/pool.py combines them. ``ModelAccess`` rows restrict a model to groups.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from gateway.worker_urls import worker_url_check

__all__ = ["ModelAccess", "Worker"]

REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


def _weight_positive(value: float) -> None:
    # MinValueValidator(0) would let 0 through, and a weight of 0 means "never": that is
    # what "enabled" is for.
    if not value > 0:
        raise ValidationError(_("The weight must be greater than 0."))


class Worker(models.Model):
    base_url = models.CharField(
        "base URL",
        max_length=500,
        unique=True,
        help_text=_(
            "The worker's address without /v1, e.g. http://gpu1:8000. "
            "dns+http://NAME:PORT stands for every address NAME resolves to "
            "(docker compose --scale), re-resolved on every probe."
        ),
    )
    region = models.CharField(
        max_length=63,
        validators=[RegexValidator(REGION_PATTERN, "Letters, digits, '.', '_' and '-' only.")],
        help_text=_("Where the worker runs; requests restricted to other regions never reach it."),
    )
    weight = models.FloatField(
        default=1.0,
        validators=[_weight_positive],
        help_text=_("Relative capacity: a worker with weight 2 takes about twice the load."),
    )
    enabled = models.BooleanField(
        default=True, help_text=_("Disabled workers get no requests and are not offered.")
    )
    draining = models.BooleanField(
        default=False,
        help_text=_("Running streams finish; nothing new is sent. Use before maintenance."),
    )
    max_concurrency = models.PositiveIntegerField(
        "max concurrent requests",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Requests the gateway sends it at once at most; empty means no gateway cap."),
    )
    # Stored as given because the gateway must send it; the admin never shows it back.
    api_key = models.CharField(
        "API key",
        max_length=500,
        blank=True,
        help_text=_("Bearer token the worker expects (vLLM --api-key). Never displayed again."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["region", "base_url"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weight__gt=0), name="worker_weight_positive")
        ]

    def __str__(self) -> str:
        return f"{self.base_url} ({self.region})"

    def __repr__(self) -> str:
        # Never the key, even in a traceback's locals.
        return f"<Worker {self.pk} {self.base_url}@{self.region}>"

    def clean(self) -> None:
        try:
            self.base_url = worker_url_check(self.base_url)
        except ValueError as exc:
            raise ValidationError({"base_url": str(exc)}) from None


class ModelAccess(models.Model):
    """A model with any of these rows is open only to members of their groups (staff and
    superusers included: being staff gives no model access). A model with none is open to
    every active user. A row with no group closes the model to everyone."""

    model = models.CharField(
        max_length=200, db_index=True, help_text=_("The model id as workers serve it.")
    )
    groups = models.ManyToManyField(
        Group, blank=True, related_name="model_access", help_text=_("Who may use the model.")
    )
    note = models.CharField(max_length=300, blank=True, help_text=_("Why, or who asked."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "id"]
        verbose_name = "model access rule"

    def __str__(self) -> str:
        return self.model
