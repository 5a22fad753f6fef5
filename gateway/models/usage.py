"""One row per generation or embedding request: who, which key, where it ran, what it cost.

Written by ``gateway.usage.usage_record`` after each request (chat and ``/v1`` alike); read by
the admin and summed per user per day for budgets.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["UsageRecord"]


class UsageRecord(models.Model):
    class Source(models.TextChoices):
        CHAT = "chat", _("Chat")
        API = "api", _("API")
        # The chat's generated conversation titles: a request of their own, not an answer.
        TITLE = "title", _("Title generation")
        # Texts embedded for the project's own use (datasets' chunks and queries,
        # gateway/embeddings.py); a refill's have no user.
        EMBEDDING = "embed", _("Embeddings")
        # Search candidates reranked for the project's own use (gateway/reranking.py).
        RERANK = "rerank", _("Reranking")

    class Outcome(models.TextChoices):
        COMPLETE = "complete", _("Complete")  # the answer ended (stop or length)
        STOPPED = "stopped", _("Stopped")  # the client stopped or went away
        INTERRUPTED = "interrupted", _("Interrupted")  # the stream died and could not be finished
        ERROR = "error", _("Error")  # no worker could answer
        REJECTED = "rejected", _("Rejected")  # refused before reaching a worker (limits, budget)

    # SET_NULL: a deleted user's or key's history still counts in the pool's totals.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    api_key = models.ForeignKey(
        "gateway.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    source = models.CharField(max_length=8, choices=Source.choices)
    model = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    region = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Prompt tokens the worker served from its prefix cache (usage.prompt_tokens_details);
    # null when the worker did not say (vLLM started without --enable-prompt-tokens-details).
    cached_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    failovers = models.PositiveSmallIntegerField(default=0)
    # Times a broken stream was continued on another worker.
    continued = models.PositiveSmallIntegerField(default=0)
    # The X-Request-Id sent to every worker the request tried (gateway/request_id.py): finds
    # the request in the gateway's and the workers' logs. Not unique: a /v1 client may reuse
    # its own ids.
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Per-user-per-day sums (budgets, the admin): a range scan on one user's rows.
            models.Index(fields=["user", "created_at"], name="usage_user_day"),
            models.Index(fields=["api_key", "created_at"], name="usage_key_day"),
            models.Index(fields=["model", "created_at"], name="usage_model_day"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.model} {self.outcome} ({self.total_tokens} tokens)"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
