"""Admin for model prices (gateway/models/prices.py): what usage pages show as cost."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from gateway.models import ModelPrice


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("model", "input_per_million", "output_per_million", "currency", "updated_at")
    search_fields = ("model",)
    fields = ("model", "input_per_million", "output_per_million")

    @admin.display(description=_("Currency"))
    def currency(self, price: ModelPrice) -> str:
        return settings.AIPORTAL_CURRENCY
