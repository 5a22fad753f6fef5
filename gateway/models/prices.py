"""What a model's tokens cost, so usage pages can show money next to tokens.

Optional: a model without a price shows no cost (never a cost of zero, which would read as
"free"). Prices are per million tokens, in the one currency AIPORTAL_CURRENCY names; cached
prompt tokens are priced as input (vLLM does not bill them apart).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["ModelPrice"]

MILLION = Decimal(1_000_000)


class ModelPrice(models.Model):
    model = models.CharField(
        max_length=200,
        unique=True,
        help_text=_("The model's name as the workers serve it (as in the usage records)."),
    )
    input_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Price of one million prompt tokens."),
    )
    output_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Price of one million completion tokens."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")

    def __str__(self) -> str:
        return self.model

    def cost(self, *, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (
            Decimal(prompt_tokens) * self.input_per_million
            + Decimal(completion_tokens) * self.output_per_million
        ) / MILLION
