"""A dataset, the grants that open it to people, and the sources a refill reads."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from gateway import regions_parse


class Level(models.IntegerChoices):
    """What a grant allows; each level includes the ones below it. Gaps between the values
    leave room for a level in between without renumbering stored grants."""

    VIEW = 10, _("view")  # see the dataset, its documents and versions
    QUERY = 20, _("query")  # search it, and use it in chat
    EDIT = 30, _("edit")  # change its sources, refill it, cancel a refill
    MANAGE = 40, _("manage")  # grants, settings, rollback


def _regions_valid(value: str) -> None:
    try:
        regions_parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class Dataset(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # PROTECT: a dataset is a team's knowledge; deleting the person who made it must not
    # silently delete it too. Hand it over (change the owner) first.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="datasets_owned"
    )
    allowed_regions = models.TextField(
        blank=True,
        validators=[_regions_valid],
        help_text=_(
            "Regions whose workers may answer conversations that use this dataset: eu-west, "
            "eu-north or a JSON list. Blank: no restriction."
        ),
    )
    schedule_minutes = models.PositiveIntegerField(
        default=0,
        help_text=_("Refill every this many minutes (Celery beat). 0: refill by hand only."),
    )
    active_version = models.ForeignKey(
        "datasets.Version",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    keep_versions = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Old versions kept for rollback. Empty: AIPORTAL_DATASET_KEEP_VERSIONS."),
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def regions(self) -> frozenset[str] | None:
        """None: no restriction. A row written around validation fails closed (no region)."""
        try:
            return regions_parse(self.allowed_regions)
        except ValueError:
            return frozenset()

    @property
    def versions_kept(self) -> int:
        if self.keep_versions is not None:
            return self.keep_versions
        return settings.AIPORTAL_DATASET_KEEP_VERSIONS


class Grant(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dataset_grants",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="dataset_grants"
    )
    # A grant to an email address with no account yet, or a group name no group has yet: it
    # gives nothing until it is claimed (datasets/services/grants.py, grants_claim_*), which
    # fills ``user`` or ``group`` and empties this. The grant form answers the same whether
    # or not the person exists, so it tells nobody who has an account.
    pending_email = models.EmailField(blank=True, db_index=True)
    pending_group = models.CharField(max_length=150, blank=True, db_index=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(
                        user__isnull=False, group__isnull=True, pending_email="", pending_group=""
                    )
                    | models.Q(
                        user__isnull=True, group__isnull=False, pending_email="", pending_group=""
                    )
                    | (
                        models.Q(user__isnull=True, group__isnull=True)
                        & (
                            (~models.Q(pending_email="") & models.Q(pending_group=""))
                            | (models.Q(pending_email="") & ~models.Q(pending_group=""))
                        )
                    )
                ),
                name="dataset_grant_for_exactly_one",
            ),
            models.CheckConstraint(
                condition=models.Q(level__in=Level.values), name="dataset_grant_level_known"
            ),
            # One grant per person or group and dataset: the level is changed in place, so
            # "what may this user do" never depends on which of two rows a query met first.
            models.UniqueConstraint(
                fields=["dataset", "user"],
                condition=models.Q(user__isnull=False),
                name="dataset_grant_one_per_user",
            ),
            models.UniqueConstraint(
                fields=["dataset", "group"],
                condition=models.Q(group__isnull=False),
                name="dataset_grant_one_per_group",
            ),
            models.UniqueConstraint(
                fields=["dataset", "pending_email"],
                condition=~models.Q(pending_email=""),
                name="dataset_grant_one_per_pending_email",
            ),
            models.UniqueConstraint(
                fields=["dataset", "pending_group"],
                condition=~models.Q(pending_group=""),
                name="dataset_grant_one_per_pending_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{Level(self.level).label} on {self.dataset_id} for {self.grantee}"

    @property
    def grantee(self) -> str:
        """Who it is for, as the page shows it: the same words for a pending grant as for one
        to an existing person or group."""
        if self.user_id is not None:
            return self.user.email
        if self.group_id is not None:
            return f"group {self.group.name}"
        return self.pending_email or f"group {self.pending_group}"

    def clean(self) -> None:
        targets = [self.user_id, self.group_id, self.pending_email, self.pending_group]
        if sum(1 for target in targets if target) != 1:
            raise ValidationError(_("A grant is for exactly one user or one group."))


class Source(models.Model):
    class Kind(models.TextChoices):
        UPLOAD = "upload", _("uploaded files")
        URLS = "urls", _("list of URLs")
        SITEMAP = "sitemap", _("sitemap")
        FOLDER = "folder", _("server folder")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="sources")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Validated and normalised by datasets.sources.source_config_check before it is stored.
    config = models.JSONField(default=dict)
    # Whose rights a server folder is read with: checked again on every refill. Empty (the
    # person was deleted, or the row is older than the check): the dataset's owner.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.dataset_id}"


class StoredFile(models.Model):
    """One uploaded file on disk (``AIPORTAL_DATASETS_DIR/<dataset>/<stored>``): what the
    storage quotas count, and how a file nothing names any more is found and deleted."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="stored_files")
    stored = models.CharField(max_length=64)  # the generated name (uploads.STORED_NAME)
    name = models.CharField(max_length=255)  # the name the person gave it
    size = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dataset_files",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "stored"], name="dataset_stored_file_once")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes) in {self.dataset_id}"
