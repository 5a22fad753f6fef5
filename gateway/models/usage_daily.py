"""Usage summed per day, user, model and source: what the admin's usage page reads.

The raw ledger (``UsageRecord``) grows by one row per request; a page that summed it for a
month would read millions of rows. These roll-ups hold one row per (day, user, model,
source) that had a request, rebuilt from the ledger by ``gateway.usage_rollup`` (the beat
runs it every few minutes for the days still receiving records).

Time to first token cannot be summed as a percentile: each row keeps a histogram of it in
fixed buckets (``TTFT_BOUNDS``), which add up across rows, and the page reads percentiles
from the merged histogram.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["TTFT_BOUNDS", "UsageDay", "ttft_field"]

# Upper bounds (ms, inclusive) of the time-to-first-token buckets; one more counts the rest.
TTFT_BOUNDS = (100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)


def ttft_field(index: int) -> str:
    """The column of bucket ``index`` (``len(TTFT_BOUNDS)``: slower than the last bound)."""
    return f"ttft_le_{TTFT_BOUNDS[index]}" if index < len(TTFT_BOUNDS) else "ttft_over"


class UsageDay(models.Model):
    day = models.DateField()
    # SET_NULL, as on the ledger: a deleted user's usage still counts in the totals.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    model = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=8)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # outcome error or interrupted
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    failovers = models.PositiveIntegerField(default=0)
    continued = models.PositiveIntegerField(default=0)
    # The TTFT histogram (see the module docstring); requests without a first token are
    # in none of them.
    ttft_le_100 = models.PositiveIntegerField(default=0)
    ttft_le_200 = models.PositiveIntegerField(default=0)
    ttft_le_300 = models.PositiveIntegerField(default=0)
    ttft_le_500 = models.PositiveIntegerField(default=0)
    ttft_le_750 = models.PositiveIntegerField(default=0)
    ttft_le_1000 = models.PositiveIntegerField(default=0)
    ttft_le_1500 = models.PositiveIntegerField(default=0)
    ttft_le_2000 = models.PositiveIntegerField(default=0)
    ttft_le_3000 = models.PositiveIntegerField(default=0)
    ttft_le_5000 = models.PositiveIntegerField(default=0)
    ttft_le_10000 = models.PositiveIntegerField(default=0)
    ttft_le_30000 = models.PositiveIntegerField(default=0)
    ttft_over = models.PositiveIntegerField(default=0)
    # When the row was rebuilt: the page says how current its figures are.
    rolled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "usage per day"
        verbose_name_plural = "usage per day"
        indexes = [
            models.Index(fields=["day", "model"], name="usage_day_model"),
            models.Index(fields=["user", "day"], name="usage_day_user"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model} {self.source}: {self.requests} requests"
