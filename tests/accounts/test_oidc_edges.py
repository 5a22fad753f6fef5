"""SSO paths a live provider cannot easily lead to, driven in-process.

- allauth's social sign-up form, reached only when a concurrent first login took the address
  between the adapter's checks and the sign-up: never shown, never saved. The race is hard to
  hit on purpose, so these tests put the pending sign-in in the session.
- Signing out when the provider cannot be asked (down) or should not be (switched off)."""

from __future__ import annotations

import html

import pytest
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount

from accounts.models import User
from accounts.sso.adapter import SocialAccountAdapter
from accounts.sso.logout import sso_logout_url
from accounts.sso.signals import SESSION_PROVIDER_KEY

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


def test_a_first_login_whose_twin_commits_between_the_checks_signs_in_to_the_twins_account(
    settings, rf, make_user
):
    """The same person's other first login commits its account right after this one read
    the provider accounts: this one must sign in to that account, not call it a clash."""
    from allauth.core import context
    from allauth.core.exceptions import ImmediateHttpResponse
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [PROVIDER]}}
    settings.AIPORTAL_SIGNUP = "open"
    request = rf.get("/accounts/oidc/clashidp/login/callback/")
    request.session, request.user = SessionStore(), AnonymousUser()
    request._messages = FallbackStorage(request)
    provider = get_adapter().get_provider(request, "clashidp")
    userinfo = {"sub": "kit-at-idp", "email": "kit@example.org", "email_verified": True}
    sociallogin = provider.sociallogin_from_response(request, {"userinfo": userinfo})
    twin = {}

    def twin_commits_after_the_first_provider_account_read(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "socialaccount_socialaccount" in sql and not twin:
            twin["user"] = None  # before the inserts below, which come through here too
            twin["user"] = make_user("kit@example.org")
            SocialAccount.objects.create(user=twin["user"], provider="clashidp", uid="kit-at-idp")
        return result

    adapter = SocialAccountAdapter(request)
    with (
        context.request_context(request),  # as allauth's middleware sets it for a request
        connection.execute_wrapper(twin_commits_after_the_first_provider_account_read),
        pytest.raises(ImmediateHttpResponse) as signed_in,
    ):
        assert adapter.is_auto_signup_allowed(request, sociallogin)
        adapter.save_user(request, sociallogin)

    assert signed_in.value.response.status_code == 302
    assert int(request.session["_auth_user_id"]) == twin["user"].pk
    assert User.objects.count() == SocialAccount.objects.count() == 1


@pytest.mark.parametrize("rp_logout", [True, False])
def test_sign_out_stays_here_when_the_provider_is_down_or_switched_off(
    settings, rf, db, monkeypatch, rp_logout
):
    from django.contrib.sessions.backends.db import SessionStore

    app = {**PROVIDER, "settings": {**PROVIDER["settings"], "rp_logout": rp_logout}}
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [app]}}
    request = rf.get("/accounts/logout/")
    request.session = SessionStore()
    request.session[SESSION_PROVIDER_KEY] = "clashidp"
    if not rp_logout:

        def no_request(self):
            raise AssertionError("a provider whose sign-out is off is not asked")

        monkeypatch.setattr(SocialAccountAdapter, "get_requests_session", no_request)

    # Port 9 (discard) refuses: discovery fails, the sign-out is local only.
    assert sso_logout_url(request, after="/accounts/login/") is None
    request.session[SESSION_PROVIDER_KEY] = "removed-since"
    assert sso_logout_url(request, after="/accounts/login/") is None
