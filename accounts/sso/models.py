from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _


class SsoGroup(models.Model):
    """Marks a Django group as managed by one provider's groups claim: a sign-in through that
    provider adds its members whose claim holds ``claim_value`` and removes those whose claim
    no longer does. Groups without this mark (the ones an admin hands out) are never touched.

    A sign-in creates these for claim values it has not seen (``groups_create``); an admin may
    also map a claim value (an Entra ID group's object id, say) to a group of their choosing."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="sso")
    provider_id = models.CharField(
        max_length=200, help_text=_("The provider id, as in AIPORTAL_OIDC_PROVIDERS.")
    )
    claim_value = models.CharField(
        max_length=255, help_text=_("The value in the provider's groups claim.")
    )

    class Meta:
        verbose_name = "SSO-managed group"
        constraints = [
            models.UniqueConstraint(
                fields=["provider_id", "claim_value"], name="sso_group_one_per_claim_value"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group.name} ({self.provider_id}: {self.claim_value})"
