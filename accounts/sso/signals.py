"""At every SSO sign-in: sync the groups the provider's claim manages, and remember which
provider it was, for the sign-out at that provider (accounts/sso/logout.py)."""

from __future__ import annotations

from allauth.account.signals import user_logged_in
from django.dispatch import receiver

from accounts.sso.groups import groups_claim_values, sso_groups_sync

SESSION_PROVIDER_KEY = "sso_provider_id"


@receiver(user_logged_in, dispatch_uid="sso-sign-in")
def _on_sign_in(sender, request, user, sociallogin=None, **kwargs) -> None:
    if sociallogin is None:
        # A password sign-in: the groups stay as they are, and its sign-out stays here.
        request.session.pop(SESSION_PROVIDER_KEY, None)
        return
    app = sociallogin.provider.app
    request.session[SESSION_PROVIDER_KEY] = app.provider_id
    claim = app.settings.get("groups_claim")
    if not claim:
        return
    extra = sociallogin.account.extra_data or {}
    values = groups_claim_values([extra.get("userinfo") or {}, extra.get("id_token") or {}], claim)
    # A provider that leaves the claim out for someone in no group means: no group.
    sso_groups_sync(
        user=user,
        provider_id=app.provider_id,
        values=values or set(),
        create=bool(app.settings.get("groups_create", True)),
        prefix=app.settings.get("groups_prefix", f"{app.provider_id}:"),
    )
