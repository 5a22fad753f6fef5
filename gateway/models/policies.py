"""Admission policies: residency and limits for one user or one group.

Empty (NULL) fields inherit; how user and group policies combine is in
gateway/callers.py (``caller_for_user``) and docs/gateway/proxy.md. Policies are read
under a version every change bumps (gateway/signals.py), so a change applies to the next
request.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from gateway.regions import REGION, regions_parse

__all__ = ["Policy"]


def _regions_valid(value: str) -> None:
    try:
        regions_parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class Policy(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="gateway_policy",
    )
    group = models.OneToOneField(
        Group,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="gateway_policy",
    )
    allowed_regions = models.TextField(
        blank=True,
        validators=[_regions_valid],
        help_text=_(
            "Regions whose workers may serve these requests: eu-west, eu-north or a JSON list. "
            "Blank: no restriction from this policy. Groups add up (union); a user policy "
            "narrows its groups' regions further (intersection)."
        ),
    )
    home_region = models.CharField(
        max_length=63,
        blank=True,
        help_text=_("Preferred region while it has a worker that is not overloaded."),
    )
    max_concurrent_streams = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Answers one user may stream at once. Empty: inherit (user → most generous group → "
            "AIPORTAL_USER_MAX_STREAMS). 0: unlimited."
        ),
    )
    daily_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Tokens (prompt + completion) one user may use per UTC day; on a group, each "
            "member's. Empty: inherit (user → most generous group → "
            "AIPORTAL_DAILY_TOKEN_BUDGET). 0: unlimited."
        ),
    )
    group_daily_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Group policies only: tokens all members together may use per UTC day. "
            "Empty or 0: no shared budget."
        ),
    )
    requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Requests one user may start per minute (chat and API together); on a group, each "
            "member's. Empty: inherit (user → most generous group → "
            "AIPORTAL_REQUESTS_PER_MINUTE). 0: unlimited."
        ),
    )
    tokens_per_minute = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Tokens (prompt + completion) one user may use per minute; on a group, each "
            "member's. Empty: inherit (user → most generous group → "
            "AIPORTAL_TOKENS_PER_MINUTE). 0: unlimited."
        ),
    )
    note = models.CharField(max_length=300, blank=True, help_text=_("Why, or who asked."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "admission policy"
        verbose_name_plural = "admission policies"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="policy_user_xor_group",
            ),
            models.CheckConstraint(
                condition=models.Q(group__isnull=False)
                | models.Q(group_daily_token_budget__isnull=True),
                name="policy_group_budget_on_groups_only",
            ),
        ]

    def __str__(self) -> str:
        return f"policy for {self.user or self.group}"

    def clean(self) -> None:
        if (self.user_id is None) == (self.group_id is None):
            raise ValidationError(_("A policy is for exactly one user or one group."))
        if self.user_id is not None and self.group_daily_token_budget is not None:
            raise ValidationError(
                {"group_daily_token_budget": "Only a group policy has a shared budget."}
            )
        if self.home_region and not REGION.match(self.home_region):
            raise ValidationError({"home_region": "Not a region name."})

    @property
    def regions(self) -> frozenset[str] | None:
        try:
            return regions_parse(self.allowed_regions)
        except ValueError:
            # A row written around validation: fail closed, to no region at all, rather
            # than lifting residency.
            return frozenset()
