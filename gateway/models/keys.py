"""Personal API keys for the OpenAI-compatible ``/v1`` API.

A key reads ``aip_<prefix>_<secret>``. The prefix is public (shown in lists, used to find the
row); only a keyed digest of the whole key is stored, so a database dump gives no usable key.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["ApiKey"]


class ApiKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    # HMAC-SHA256 (hex) of the whole key, keyed from SECRET_KEY: see gateway.keys.
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Updated at most once a minute (gateway.keys.apikey_mark_used), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Limits of this key alone, on top of its owner's (gateway/rate_limits.py): a script
    # running away on one key is stopped without stopping its owner's other keys or chat.
    requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Requests this key may start per minute. Empty or 0: no limit of its own."),
    )
    tokens_per_minute = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Tokens (prompt + completion) this key may use per minute. Empty or 0: no limit "
            "of its own."
        ),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (aip_{self.prefix}_…)"

    @property
    def display(self) -> str:
        """What may be shown of the key anywhere: its public part."""
        return f"aip_{self.prefix}_…"

    def is_usable(self, *, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now
