from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["ModelCapability"]


class ModelCapability(models.Model):
    """What a model can take besides text, as an admin says it: vLLM's model cards do not
    say whether a model reads images, so the chat and ``/v1`` ask this row. A model without
    a row takes text only (images are refused before anything is sent)."""

    model = models.CharField(
        max_length=200, unique=True, help_text=_("The model id as workers serve it.")
    )
    vision = models.BooleanField(
        default=False,
        help_text=_("The model reads images (OpenAI image_url content parts)."),
    )
    note = models.CharField(max_length=300, blank=True, help_text=_("Why, or who asked."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        verbose_name = "model capability"
        verbose_name_plural = "model capabilities"

    def __str__(self) -> str:
        return self.model
