"""Reads that turn tokens into money with the admin's model prices (gateway/models/prices.py).

A model without a price has no cost (None), never a cost of zero; a sum over models some of
which have no price is the sum of those priced, flagged ``partial`` so a page can say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum

from gateway.models import ModelPrice, UsageRecord


@dataclass
class Cost:
    """Money spent on some usage: ``amount`` None when no model of it has a price."""

    amount: Decimal | None = None
    partial: bool = False  # some of the usage was on models without a price
    currency: str = field(default_factory=lambda: settings.AIPORTAL_CURRENCY)

    def add(self, amount: Decimal | None) -> None:
        if amount is None:
            self.partial = True
        else:
            self.amount = (self.amount or Decimal(0)) + amount

    @property
    def shown(self) -> str:
        """The amount rounded for a page: cents, or four places when under one cent (a
        fraction of a cent is not zero)."""
        if self.amount is None:
            return ""
        small = 0 < self.amount < Decimal("0.01")
        places = Decimal("0.0001") if small else Decimal("0.01")
        return f"{self.amount.quantize(places)} {self.currency}"


def prices_by_model() -> dict[str, ModelPrice]:
    return {price.model: price for price in ModelPrice.objects.all()}


def cost_of(
    prices: dict[str, ModelPrice], *, model: str, prompt_tokens: int, completion_tokens: int
) -> Decimal | None:
    price = prices.get(model)
    if price is None:
        return None
    return price.cost(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def cost_sum(prices: dict[str, ModelPrice], rows: Iterable[dict[str, Any]]) -> Cost:
    """The cost of rows that each have ``model``, ``prompt_tokens`` and ``completion_tokens``
    (rows with no token at all, refusals say, cost nothing and are never "unpriced")."""
    total = Cost()
    for row in rows:
        prompt, completion = row["prompt_tokens"] or 0, row["completion_tokens"] or 0
        if prompt or completion:
            total.add(
                cost_of(
                    prices,
                    model=row["model"],
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                )
            )
    return total


@dataclass
class ModelUsage:
    model: str
    requests: int
    rejected: int
    prompt_tokens: int
    completion_tokens: int
    cost: Cost


def usage_by_model_for_user(*, user: Any, since: datetime) -> list[ModelUsage]:
    """The user's own usage since ``since`` per model (chat and API), with its cost: for
    their usage on the API keys page. One indexed range scan of their records."""
    prices = prices_by_model()
    rows = (
        UsageRecord.objects.filter(user=user, created_at__gte=since)
        .order_by()
        .values("model")
        .annotate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
        )
    )
    rejected = dict(
        UsageRecord.objects.filter(
            user=user, created_at__gte=since, outcome=UsageRecord.Outcome.REJECTED
        )
        .order_by()
        .values_list("model")
        .annotate(count=Count("id"))
    )
    found = []
    for row in rows:
        tokens = {"prompt_tokens": row["prompt"] or 0, "completion_tokens": row["completion"] or 0}
        found.append(
            ModelUsage(
                model=row["model"],
                requests=row["requests"],
                rejected=rejected.get(row["model"], 0),
                cost=cost_sum(prices, [{"model": row["model"], **tokens}]),
                **tokens,
            )
        )
    return sorted(found, key=lambda u: (-(u.prompt_tokens + u.completion_tokens), u.model))
