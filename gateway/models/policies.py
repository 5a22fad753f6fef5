"""Admission policies: residency and limits for one user or one group.

Empty (NULL) fields inherit; how user and group policies combine is in
gateway/admission.py (``caller_for_user``, ``limits_for``) and docs/gateway/proxy.md.
Policies are read on every request, so a change applies to the next one.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

__all__ = ["Policy", "regions_parse"]

_REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def regions_parse(value: str) -> frozenset[str] | None:
    """``eu-west, eu-north`` or ``["eu-west", "eu-north"]`` → a set; blank → None (no
    restriction from this policy). Raises ValueError for anything that is not a region."""
    text = (value or "").strip()
    if not text:
        return None
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ValueError("Allowed regions: not a valid JSON list.") from None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ValueError("Allowed regions: the JSON must be a list of strings.")
    else:
        items = text.split(",")
    regions = {item.strip() for item in items if item.strip()}
    bad = sorted(region for region in regions if not _REGION.match(region))
    if bad:
        raise ValueError(f"Allowed regions: {', '.join(bad)} is not a region name.")
    if not regions:
        raise ValueError("Allowed regions: list at least one region, or leave it blank.")
    return frozenset(regions)


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
        help_text=(
            "Regions whose workers may serve these requests: eu-west, eu-north or a JSON list. "
            "Blank: no restriction from this policy. Groups add up (union); a user policy "
            "narrows its groups' regions further (intersection)."
        ),
    )
    home_region = models.CharField(
        max_length=63,
        blank=True,
        help_text="Preferred region while it has a worker that is not overloaded.",
    )
    max_concurrent_streams = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Answers one user may stream at once. Empty: inherit (user → most generous group → "
            "AIPORTAL_USER_MAX_STREAMS). 0: unlimited."
        ),
    )
    daily_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Tokens (prompt + completion) one user may use per UTC day; on a group, each "
            "member's. Empty: inherit (user → most generous group → "
            "AIPORTAL_DAILY_TOKEN_BUDGET). 0: unlimited."
        ),
    )
    group_daily_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text=(
            "Group policies only: tokens all members together may use per UTC day. "
            "Empty or 0: no shared budget."
        ),
    )
    note = models.CharField(max_length=300, blank=True, help_text="Why, or who asked.")
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
            raise ValidationError("A policy is for exactly one user or one group.")
        if self.user_id is not None and self.group_daily_token_budget is not None:
            raise ValidationError(
                {"group_daily_token_budget": "Only a group policy has a shared budget."}
            )
        if self.home_region and not _REGION.match(self.home_region):
            raise ValidationError({"home_region": "Not a region name."})

    @property
    def regions(self) -> frozenset[str] | None:
        try:
            return regions_parse(self.allowed_regions)
        except ValueError:
            # A row written around validation: fail closed, to no region at all, rather
            # than lifting residency.
            return frozenset()


# --- Telling every process that policies changed --------------------------------------------
# gateway/admission.py caches what policies and model access rules resolve to, under a
# version kept in Redis. These receivers bump it once the change is committed (a reader that
# refreshed before the commit would cache the old rows under the new version otherwise).


def _announce(**_: object) -> None:
    from django.db import transaction

    from gateway.admission import policies_version_bump

    transaction.on_commit(policies_version_bump)


def _announce_user(update_fields=None, **kwargs: object) -> None:
    # A sign-in saves last_login alone: nothing the gateway caches depends on it, and
    # bumping on every sign-in would empty every process's caches all day long.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    _announce(**kwargs)


def _connect() -> None:
    from django.contrib.auth import get_user_model
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from gateway.models.keys import ApiKey
    from gateway.models.workers import ModelAccess

    # Keys are cached by gateway/key_cache.py under the same version.
    for model in (Policy, ModelAccess, Group, ApiKey):
        post_save.connect(_announce, sender=model, dispatch_uid=f"gw-policy-save-{model}")
        post_delete.connect(_announce, sender=model, dispatch_uid=f"gw-policy-del-{model}")
    # A user deactivated, deleted or changed: their cached keys and policies go.
    user_model = get_user_model()
    post_save.connect(_announce_user, sender=user_model, dispatch_uid="gw-policy-user-save")
    post_delete.connect(_announce, sender=user_model, dispatch_uid="gw-policy-user-del")
    for through in (get_user_model().groups.through, ModelAccess.groups.through):
        m2m_changed.connect(_announce, sender=through, dispatch_uid=f"gw-policy-m2m-{through}")


_connect()
