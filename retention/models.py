"""Retention policies: one default for everyone (a singleton row), overrides per group, and
the purge's runs.

A period is a whole number of days; empty means "keep forever". For a person in groups that
set a period for a kind of data, the shortest of those wins ("keep forever" is the longest);
the default applies to whoever is in no such group (retention/selectors.py).
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

KEEP_FOREVER_HELP = _("Days; empty keeps forever.")


def _days_field(verbose_name, help_text=KEEP_FOREVER_HELP) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        verbose_name,
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=help_text,
    )


# The kinds of data with a period (plain strings: what the selectors take).
CONVERSATIONS = "conversations"
USAGE = "usage"
AUDIT = "audit"


class Kind(models.TextChoices):
    """What a group may set a period for. Audit events have only the default's: the log is
    the organisation's evidence, not a person's data."""

    CONVERSATIONS = CONVERSATIONS, _("conversations (with their attachments and links)")
    USAGE = USAGE, _("usage records (with their daily roll-ups)")


class RetentionDefaults(models.Model):
    """The default periods. A singleton (pk 1), like the chat's defaults: edited in the admin
    without a restart, and every change is in the audit log. Until an admin saves it, every
    period is "keep forever": upgrading deletes nothing by itself."""

    conversations_days = _days_field(
        _("conversations"),
        _("Days after a conversation's last message; empty keeps forever."),
    )
    usage_days = _days_field(_("usage records"))
    audit_days = _days_field(
        _("audit events"),
        _(
            "Days; empty keeps forever (the default: the log is the evidence of who did "
            "what; set a period only if your policy says so, e.g. seven years)."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("retention defaults")
        verbose_name_plural = _("retention defaults")

    def __str__(self) -> str:
        return str(_("Retention defaults"))

    def save(self, *args, **kwargs) -> None:
        self.pk = 1  # there is only one
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> RetentionDefaults:
        # Never created on read (a GET writes nothing): unsaved, everything kept forever.
        return cls.objects.filter(pk=1).first() or cls(pk=1)


class GroupRetention(models.Model):
    """A group's period for one kind of data; its existence is what makes the group's
    members leave the default for that kind."""

    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="retention_policies", verbose_name=_("group")
    )
    kind = models.CharField(_("data"), max_length=16, choices=Kind.choices)
    days = _days_field(_("days"))

    class Meta:
        verbose_name = _("group retention policy")
        verbose_name_plural = _("group retention policies")
        ordering = ["group__name", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["group", "kind"], name="retention_group_kind")
        ]

    def __str__(self) -> str:
        return f"{self.group} · {self.kind}"


class RetentionRun(models.Model):
    """One purge run. Its counts grow in the transaction of each batch it deletes, so they
    are always true, even of a run killed half-way (``finished_at`` then stays empty, and
    the next run records it in the audit log as interrupted)."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # True when everything due was deleted; False when the run stopped at its batch limit
    # (AIPORTAL_RETENTION_MAX_BATCHES) and the next one goes on.
    complete = models.BooleanField(default=False)
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"retention run {self.pk}"
