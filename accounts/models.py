from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """aiportal's own user model from the first migration, so roles and SSO fields can be added
    later without the painful swap of Django's default user."""

    class Status(models.TextChoices):
        # Roles (docs/accounts.md): admin is ``is_staff`` on an active user; "user" is an
        # active user without it. A pending user waits for an admin's approval and a
        # suspended one was stopped by an admin: neither may do anything on any path
        # (session, API key, websocket). ``is_active`` stays Django's own switch.
        ACTIVE = "active", _("active")
        PENDING = "pending", _("pending approval")
        SUSPENDED = "suspended", _("suspended")

    email = models.EmailField("email address", unique=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )

    @property
    def may_act(self) -> bool:
        """Whether this account may use anything beyond the sign-in and waiting pages."""
        return self.is_active and self.status == self.Status.ACTIVE

    def __str__(self) -> str:
        return self.email or self.username


class AuditEvent(models.Model):
    """Append-only: who did what to which object, when and from where. Rows are only ever
    added (``accounts.audit.audit_record``); the admin shows them read-only. ``actor`` is
    kept null when the person is deleted: the event stays."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=100)  # e.g. "dataset.delete", "dataset.grant.set"
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        return f"{self.action} on {self.target_type} {self.target_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)


class DataExport(models.Model):
    """One archive built by a Celery job (accounts/tasks.py) into a file with a generated name
    under AIPORTAL_DATA_DIR: either "export my data" (``dataset_id`` empty), downloadable once
    by its owner within a day (the download marks the row downloaded and deletes the file),
    or one dataset's export (docs/datasets.md), which its requester may download while it
    lasts (a day) and while they still manage the dataset; the beat deletes it after."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("being built")
        READY = "ready", _("ready to download")
        DOWNLOADED = "downloaded", _("downloaded")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="exports")
    # The dataset exported, if this is a dataset's export. A plain id, not a foreign key:
    # accounts sits below the feature apps; a deleted dataset's exports are discarded by its
    # deletion (datasets/services/sovereignty.py).
    dataset_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    error = models.TextField(blank=True)
    # The archive's name under AIPORTAL_DATA_DIR/exports: random, never derived from the user.
    file_name = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} of user {self.user_id} ({self.status})"

    @property
    def shown_status(self) -> str:
        """The status as of now: a ready archive past its day is expired, whether or not the
        beat has marked it yet (pages that show it are GETs and write nothing)."""
        if (
            self.status == self.Status.READY
            and self.expires_at
            and self.expires_at <= timezone.now()
        ):
            return self.Status.EXPIRED
        return self.status


class Invite(models.Model):
    """An admin's invitation for one email address (``AIPORTAL_SIGNUP=invite``,
    accounts/signup/invites.py). Only a keyed digest of the link's token is kept, like API keys: the
    database alone cannot produce a working link. An invite is live while it is neither used,
    revoked nor expired; it is used once, by the account created for its address."""

    email = models.EmailField(db_index=True)
    invited_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"invitation for {self.email}"

    def is_live(self, *, now=None) -> bool:
        now = now or timezone.now()
        return self.used_at is None and self.revoked_at is None and self.expires > now


class Preferences(models.Model):
    """What a person chose for themselves on Settings → Preferences (docs/accounts.md): the
    model a new chat starts with, instructions every new chat starts with (its system
    message), and the theme of every page. No row means every default."""

    class Theme(models.TextChoices):
        SYSTEM = "system", _("Like the system")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(
        "accounts.User", on_delete=models.CASCADE, primary_key=True, related_name="preferences"
    )
    # A model name as the gateway serves it; blank: the admins' default. Not checked here
    # (accounts knows no gateway): the chat checks it like any model the picker sends.
    default_model = models.CharField(max_length=200, blank=True)
    custom_instructions = models.TextField(blank=True)
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    # A code from settings.LANGUAGES; blank: like the browser (its Accept-Language). Not a
    # choices= field: the list is the deployment's, and a change to it needs no migration.
    language = models.CharField(max_length=16, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class LegalHold(models.Model):
    """A legal hold on one person: while it is active (``released_at`` empty) nothing of
    theirs is deleted, neither by the retention purge nor at their own request
    (docs/operations.md, "Legal hold"). Placed and released by an admin, both audited; the
    rows stay after release as the hold's history. Confidential: nothing the person sees
    changes, except that deleting their account is refused with a neutral message."""

    # PROTECT: an account with a hold is not deleted by any path (the admin's user list
    # says why); deleting one's own account removes released holds first (their history is
    # in the audit log), and an admin may delete a released hold.
    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="legal_holds")
    reason = models.TextField(help_text=_("Why (a case or matter reference); admins only."))
    placed_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    placed_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(
                fields=["user"], name="legal_hold_active", condition=models.Q(released_at=None)
            )
        ]

    def __str__(self) -> str:
        state = "released" if self.released_at else "active"
        return f"legal hold on {self.user} ({state})"
