"""allauth's social sign-up form, reached only when a concurrent first login took the address
between the adapter's checks and the sign-up: never shown, never saved (accounts/sso/adapter.py).
The race is hard to hit on purpose, so these tests put the pending sign-in in the session."""

from __future__ import annotations

import html

import pytest
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount

from accounts.models import User

PROVIDER = {
    "provider_id": "clashidp",
    "name": "Clash IdP",
    "client_id": "c",
    "secret": "s",
    "settings": {"server_url": "http://127.0.0.1:9"},  # never called on these paths
}


@pytest.fixture
def pending_signup(settings, client, rf):
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [PROVIDER]}}
    settings.AIPORTAL_SIGNUP = "open"

    def put(sub: str, email: str) -> None:
        provider = get_adapter().get_provider(rf.get("/"), "clashidp")
        userinfo = {"sub": sub, "email": email, "email_verified": True}
        sociallogin = provider.sociallogin_from_response(rf.get("/"), {"userinfo": userinfo})
        session = client.session
        session["socialaccount_sociallogin"] = sociallogin.serialize()
        session.save()

    return put


def test_the_form_is_refused_when_another_account_took_the_address(
    client, pending_signup, make_user
):
    make_user("zed@example.org")
    pending_signup("zed-at-idp", "zed@example.org")

    shown = client.get("/accounts/3rdparty/signup/")
    pending_signup("zed-at-idp", "zed@example.org")
    posted = client.post("/accounts/3rdparty/signup/", {"email": "typed@example.org"})

    for response in (shown, posted):
        assert response.status_code == 403
        assert "created an account at the same moment" in html.unescape(response.text)
    assert not User.objects.filter(email="typed@example.org").exists()
    assert not SocialAccount.objects.exists()


def test_the_form_signs_in_to_the_account_a_concurrent_login_made(
    client, pending_signup, make_user
):
    made = make_user("yan@example.org")
    SocialAccount.objects.create(user=made, provider="clashidp", uid="yan-at-idp")
    pending_signup("yan-at-idp", "yan@example.org")

    response = client.get("/accounts/3rdparty/signup/")

    assert response.status_code == 302
    assert response.url == "/"
    assert int(client.session["_auth_user_id"]) == made.pk
    assert User.objects.count() == 1
