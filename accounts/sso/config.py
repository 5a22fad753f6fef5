"""OpenID Connect providers from the environment, as allauth's ``SOCIALACCOUNT_PROVIDERS`` apps.

``AIPORTAL_OIDC_PROVIDERS`` lists provider ids (``keycloak,google``); each id's settings are
variables named after it: ``AIPORTAL_OIDC_KEYCLOAK_SERVER_URL`` and so on (docs/configuration.md).
One variable per setting rather than one JSON blob, so that a client secret can come from a
file (``..._CLIENT_SECRET_FILE``) like every other secret, and a typo names the variable.

Imported by settings.py: no Django imports here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from common.env import ConfigError, env_bool, env_list, env_secret, env_str

# The id is part of the callback URL (/accounts/oidc/<id>/login/callback/) and of variable names.
_PROVIDER_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_TOKEN_AUTH_METHODS = {"", "client_secret_basic", "client_secret_post"}


def _var(provider_id: str, name: str) -> str:
    return f"AIPORTAL_OIDC_{provider_id.upper().replace('-', '_')}_{name}"


def oidc_app_from_env(provider_id: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """One provider's allauth app entry. ``settings`` also carries aiportal's own keys
    (``groups_claim``, ``groups_create``, ``groups_prefix``, ``rp_logout``), which an app
    configured in the admin may carry in its settings JSON too."""
    if not _PROVIDER_ID.match(provider_id):
        raise ConfigError(
            f"AIPORTAL_OIDC_PROVIDERS: {provider_id!r} is not a provider id "
            "(lower-case letters, digits and '-', starting with a letter)"
        )

    def required(name: str) -> str:
        value = env_str(_var(provider_id, name), environ=environ)
        if not value:
            raise ConfigError(f"{_var(provider_id, name)} must be set")
        return value

    server_url = required("SERVER_URL").rstrip("/")
    if not server_url.startswith(("https://", "http://")):
        raise ConfigError(f"{_var(provider_id, 'SERVER_URL')} must be an http(s) URL")
    token_auth = env_str(_var(provider_id, "TOKEN_AUTH_METHOD"), environ=environ)
    if token_auth not in _TOKEN_AUTH_METHODS:
        raise ConfigError(
            f"{_var(provider_id, 'TOKEN_AUTH_METHOD')} must be client_secret_basic or "
            f"client_secret_post, not {token_auth!r}"
        )
    app_settings: dict[str, Any] = {
        "server_url": server_url,
        "scope": env_list(
            _var(provider_id, "SCOPES"), ["openid", "email", "profile"], environ=environ
        ),
        "oauth_pkce_enabled": env_bool(_var(provider_id, "PKCE"), True, environ=environ),
        "groups_claim": env_str(_var(provider_id, "GROUPS_CLAIM"), environ=environ),
        "groups_create": env_bool(_var(provider_id, "GROUPS_CREATE"), True, environ=environ),
        "groups_prefix": env_str(
            _var(provider_id, "GROUPS_PREFIX"), f"{provider_id}:", environ=environ
        ),
        "rp_logout": env_bool(_var(provider_id, "LOGOUT"), True, environ=environ),
    }
    if token_auth:
        app_settings["token_auth_method"] = token_auth
    # allauth's own switch: every address this provider sends counts as verified. Only for a
    # directory that the organisation runs and that does not send email_verified (Entra ID).
    if env_bool(_var(provider_id, "TRUST_EMAIL"), False, environ=environ):
        app_settings["verified_email"] = True
    return {
        "provider_id": provider_id,
        "name": env_str(_var(provider_id, "NAME"), provider_id, environ=environ),
        "client_id": required("CLIENT_ID"),
        "secret": env_secret(_var(provider_id, "CLIENT_SECRET"), environ=environ),
        "settings": app_settings,
    }


def oidc_apps_from_env(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    ids = env_list("AIPORTAL_OIDC_PROVIDERS", environ=environ)
    if len(set(ids)) != len(ids):
        raise ConfigError("AIPORTAL_OIDC_PROVIDERS names a provider twice")
    return [oidc_app_from_env(provider_id, environ) for provider_id in ids]
