"""What SCIM keeps beside accounts' own rows: the tokens an identity provider presents, the
SCIM attributes a user has that ``accounts.User`` has no column for, and the mark on each
group SCIM created (the only groups it may change)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ScimToken(models.Model):
    """A bearer token for ``/scim/v2/``, made by an admin in Django admin. It reads
    ``scim_<prefix>_<secret>``: the prefix finds the row, only a keyed digest of the whole
    token is stored (scim/tokens.py), so the database alone gives no usable token."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    # Written at most once a minute (scim.tokens.scim_token_mark_used).
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("SCIM token")
        verbose_name_plural = _("SCIM tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"

    @property
    def display(self) -> str:
        """The public part of the token: all that is ever shown again."""
        return f"scim_{self.prefix}_…"


class ScimUser(models.Model):
    """A user's SCIM attributes without a column in ``accounts.User``. A user without a row
    was never touched by SCIM (an identity provider finds it by ``userName`` and links it)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scim"
    )
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    display_name = models.CharField(max_length=255, blank=True)
    # The ``emails`` as the provider sent them ([{"value", "type", "primary"}]); the primary
    # one is also the account's own address.
    emails = models.JSONField(default=list, blank=True)
    # Set by a SCIM DELETE: the account is suspended and hidden from SCIM, its data kept.
    # A later POST with the same userName provisions it again.
    deprovisioned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("SCIM user")

    def __str__(self) -> str:
        return f"SCIM attributes of user {self.user_id}"


class ScimGroup(models.Model):
    """Marks a group SCIM created and manages. SCIM lists, changes and deletes only groups
    with this mark; SSO sync only groups with its own (accounts.sso.models.SsoGroup); a group
    an admin made by hand has neither and neither protocol touches it."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="scim")
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("SCIM group")

    def __str__(self) -> str:
        return f"SCIM mark of group {self.group_id}"
