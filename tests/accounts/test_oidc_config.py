"""SSO providers read from the environment, the groups claim's parsing and a new SSO
account's starting fields: the parts that need no provider running."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount, SocialLogin

from accounts.models import User
from accounts.sso.adapter import SocialAccountAdapter
from accounts.sso.config import oidc_apps_from_env
from accounts.sso.groups import MAX_CLAIM_VALUES, groups_claim_values
from common.env import ConfigError

KEYCLOAK = {
    "AIPORTAL_OIDC_PROVIDERS": "keycloak, entra-id",
    "AIPORTAL_OIDC_KEYCLOAK_SERVER_URL": "https://sso.example.org/realms/staff/",
    "AIPORTAL_OIDC_KEYCLOAK_CLIENT_ID": "aiportal",
    "AIPORTAL_OIDC_KEYCLOAK_CLIENT_SECRET": "kc-secret",
    "AIPORTAL_OIDC_KEYCLOAK_GROUPS_CLAIM": "groups",
    "AIPORTAL_OIDC_ENTRA_ID_NAME": "Microsoft",
    "AIPORTAL_OIDC_ENTRA_ID_SERVER_URL": "https://login.microsoftonline.com/tid/v2.0",
    "AIPORTAL_OIDC_ENTRA_ID_CLIENT_ID": "0000-1111",
    "AIPORTAL_OIDC_ENTRA_ID_SCOPES": "openid,email,profile",
    "AIPORTAL_OIDC_ENTRA_ID_TRUST_EMAIL": "true",
    "AIPORTAL_OIDC_ENTRA_ID_GROUPS_CREATE": "false",
    "AIPORTAL_OIDC_ENTRA_ID_TOKEN_AUTH_METHOD": "client_secret_post",
}


def test_it_reads_several_providers_with_their_defaults(tmp_path):
    secret = tmp_path / "entra-secret"
    secret.write_text("from-a-file\n")

    keycloak, entra = oidc_apps_from_env(
        {**KEYCLOAK, "AIPORTAL_OIDC_ENTRA_ID_CLIENT_SECRET_FILE": str(secret)}
    )

    assert keycloak == {
        "provider_id": "keycloak",
        "name": "keycloak",
        "client_id": "aiportal",
        "secret": "kc-secret",
        "settings": {
            "server_url": "https://sso.example.org/realms/staff",
            "scope": ["openid", "email", "profile"],
            "oauth_pkce_enabled": True,
            "groups_claim": "groups",
            "groups_create": True,
            "groups_prefix": "keycloak:",
            "rp_logout": True,
        },
    }
    assert (entra["provider_id"], entra["name"], entra["secret"]) == (
        "entra-id",
        "Microsoft",
        "from-a-file",
    )
    assert entra["settings"]["verified_email"] is True
    assert entra["settings"]["groups_create"] is False
    assert entra["settings"]["token_auth_method"] == "client_secret_post"
    assert "verified_email" not in keycloak["settings"]


def test_no_providers_is_no_sso():
    assert oidc_apps_from_env({}) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AIPORTAL_OIDC_KEYCLOAK_CLIENT_ID": ""}, "AIPORTAL_OIDC_KEYCLOAK_CLIENT_ID must be set"),
        ({"AIPORTAL_OIDC_PROVIDERS": "Key cloak"}, "'Key cloak' is not a provider id"),
        ({"AIPORTAL_OIDC_PROVIDERS": "keycloak,keycloak"}, "names a provider twice"),
        ({"AIPORTAL_OIDC_KEYCLOAK_SERVER_URL": "sso.example.org"}, "must be an http(s) URL"),
        ({"AIPORTAL_OIDC_KEYCLOAK_TOKEN_AUTH_METHOD": "none"}, "client_secret_basic or"),
        ({"AIPORTAL_OIDC_KEYCLOAK_PKCE": "maybe"}, "AIPORTAL_OIDC_KEYCLOAK_PKCE must be true"),
        (
            {"AIPORTAL_OIDC_KEYCLOAK_CLIENT_SECRET_FILE": "/nonexistent/secret"},
            "set AIPORTAL_OIDC_KEYCLOAK_CLIENT_SECRET or AIPORTAL_OIDC_KEYCLOAK_CLIENT_SECRET_FILE",
        ),
    ],
)
def test_a_misconfigured_provider_stops_start_up_naming_the_variable(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        oidc_apps_from_env({**KEYCLOAK, "AIPORTAL_OIDC_PROVIDERS": "keycloak", **change})


def test_the_groups_claim_is_read_from_the_first_source_that_has_it():
    userinfo, id_token = {"email": "a@example.org"}, {"groups": ["eng", " ops ", "", 7]}
    assert groups_claim_values([userinfo, id_token], "groups") == {"eng", "ops"}
    assert groups_claim_values([{"groups": []}, id_token], "groups") == set()
    assert groups_claim_values([{"roles": "admin"}], "roles") == {"admin"}
    assert groups_claim_values([userinfo, {}], "groups") is None
    many = {"groups": [f"g{i}" for i in range(MAX_CLAIM_VALUES + 50)]}
    assert len(groups_claim_values([many], "groups")) == MAX_CLAIM_VALUES


@pytest.mark.parametrize(("approval", "status"), [(False, "active"), (True, "pending")])
def test_a_new_sso_account_starts_with_the_policy_status_and_no_privilege(
    settings, rf, approval, status
):
    settings.AIPORTAL_SIGNUP_APPROVAL = approval
    sociallogin = SocialLogin(user=User(), account=SocialAccount(provider="kc", uid="1"))
    claims = {"email": "root@example.org", "username": "admin", "is_staff": True}

    user = SocialAccountAdapter(rf.get("/")).populate_user(rf.get("/"), sociallogin, claims)

    assert (user.status, user.is_staff, user.is_superuser) == (status, False, False)
    assert user.username == ""  # allauth makes one from the address, not the IdP's choice
