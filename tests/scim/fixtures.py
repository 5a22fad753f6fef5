"""What the SCIM tests share: a token made as an admin makes it, a client for the live
Daphne (the session's ``daphne_url``) that sends it, and the apps whose tables they use."""

from __future__ import annotations

import httpx

from tests.accounts.mfa_fixtures import AVAILABLE_APPS as ACCOUNT_APPS

# auth: the groups SCIM makes are flushed between tests; accounts.sso: its group marks.
AVAILABLE_APPS = [*ACCOUNT_APPS, "django.contrib.auth", "accounts.sso", "scim"]

SCIM_TYPE = "application/scim+json"


def scim_token(name: str = "Entra ID") -> str:
    from scim.tokens import scim_token_create

    return scim_token_create(name=name, by=None)[1]


def scim_client(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/scim/v2",
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM_TYPE},
        timeout=10,
    )


__all__ = ["AVAILABLE_APPS", "SCIM_TYPE", "scim_client", "scim_token"]
