"""Who an SSO sign-in may be: the existing account it belongs to, a new one, or nobody.

- A provider account seen before signs in to the account it is linked to.
- Otherwise, an address that a local account already has links to that account only when the
  provider marks the address verified (``email_verified``) *and* the local account verified it
  too. Linking on an unverified address would hand the account to whoever typed it at an IdP.
  An admin's account (staff or superuser) is never linked this way.
- Otherwise a new account is made, only for a verified address and only when
  ``signup_refusal(via="sso")`` allows it; it starts with ``new_user_status()`` and is never
  staff or superuser, whatever the provider says.

Someone already signed in may link an IdP account of theirs from Connected accounts
(/accounts/3rdparty/, allauth's connect flow): that needs no address to match.

Every refusal is a page that says why (templates/socialaccount/sso_refused.html).
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.account.utils import perform_login
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings as socialaccount_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.signup.policy import new_user_status, signup_refusal

# Saving a first login again after a unique-constraint clash: once for a username another new
# account took a moment ago, once more for luck; a third clash is reported, not looped on.
_SAVE_ATTEMPTS = 3
# Marked (gettext_noop) and translated where shown.
_CLASH = gettext_noop(
    "Another sign-in with the same address created an account at the same moment. "
    "Sign in again: the next attempt follows the linking rules."
)


def _refuse(request: HttpRequest, sociallogin: SocialLogin, reason: str) -> ImmediateHttpResponse:
    response = render(
        request,
        "socialaccount/sso_refused.html",
        {"provider_name": sociallogin.provider.name, "reason": reason},
        status=403,
    )
    return ImmediateHttpResponse(response)


def _primary_email(sociallogin: SocialLogin) -> tuple[str, bool] | None:
    addresses = sociallogin.email_addresses
    if not addresses:
        return None
    first = next((a for a in addresses if a.primary), addresses[0])
    return first.email, bool(first.verified)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        if sociallogin.is_existing:
            return
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            # Someone signed in here links an IdP account of theirs (Connected accounts):
            # they proved both ends, so allauth links it to them whatever the address.
            return
        email = _primary_email(sociallogin)
        if email is None:
            raise _refuse(
                request,
                sociallogin,
                _(
                    "The provider did not send an email address, which this site needs to "
                    "know who you are. Ask your administrator to release the email claim."
                ),
            )
        address, idp_verified = email
        local = get_user_model().objects.filter(email__iexact=address).first()
        if local is None:
            owner = EmailAddress.objects.filter(email__iexact=address).select_related("user")
            local = next((row.user for row in owner), None)
        if local is None:
            if not idp_verified:
                raise _refuse(
                    request,
                    sociallogin,
                    _(
                        "%(provider)s has not verified the address %(address)s, "
                        "so no account is made for it. Verify it there and sign in again."
                    )
                    % {"provider": sociallogin.provider.name, "address": address},
                )
            return  # a first login: allauth goes on to sign-up, gated below
        if local.is_staff or local.is_superuser:
            # A first SSO login is never an admin's, not even by linking: whoever controls
            # the IdP account would hold the admin account. Admins link while signed in.
            raise _refuse(
                request,
                sociallogin,
                _(
                    "The address %(address)s belongs to an administrator's account, which an "
                    "SSO sign-in is never linked to by itself. Sign in with your password and "
                    "link %(provider)s under Connected accounts."
                )
                % {"provider": sociallogin.provider.name, "address": address},
            )
        locally_verified = EmailAddress.objects.filter(
            user=local, email__iexact=address, verified=True
        ).exists()
        if not (idp_verified and locally_verified):
            raise _refuse(
                request,
                sociallogin,
                (
                    _(
                        "An account with the address %(address)s already exists here. It is "
                        "linked to %(provider)s only when both have verified the address: sign "
                        "in with your password and verify the address, then sign in with "
                        "%(provider)s again."
                    )
                    if idp_verified
                    else _(
                        "An account with the address %(address)s already exists here. It is "
                        "linked to %(provider)s only when both have verified the address: "
                        "%(provider)s has not verified it."
                    )
                )
                % {"provider": sociallogin.provider.name, "address": address},
            )
        try:
            with transaction.atomic():
                sociallogin.connect(request, local)
        except IntegrityError:
            # The same provider account was linked by a sign-in running at the same moment.
            sociallogin.user = None
            sociallogin.lookup()

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        email = _primary_email(sociallogin)
        reason = signup_refusal(email=email[0] if email else None, via="sso")
        if reason:
            raise _refuse(request, sociallogin, reason)
        return True

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # The checks in pre_social_login ran a moment ago; a concurrent first login may have
        # created the account since. allauth would then show its sign-up form.
        self._clash_resolve(request, sociallogin)
        return True

    def get_signup_form_initial_data(self, sociallogin: SocialLogin) -> dict:
        # allauth's social sign-up form would let the person type any address in place of
        # the verified one the provider sent. It is only reached when a concurrent first
        # login took the address after the check above: resolve that instead of showing it.
        request = self.request
        request.session.pop("socialaccount_sociallogin", None)
        self._clash_resolve(request, sociallogin)
        raise _refuse(request, sociallogin, _(_CLASH))

    def _clash_resolve(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Sign in to the account a concurrent first login of the same IdP account made, or
        refuse when another account took the address; return when neither happened.

        The address is read before the provider account, not after: a concurrent first login
        commits both rows at once, so once its address is visible its provider account is
        too. Read the other way round, that login could commit between the two reads and
        this one would be refused as a clash with its own twin."""
        email = _primary_email(sociallogin)
        address_taken = bool(email) and (
            get_user_model().objects.filter(email__iexact=email[0]).exists()
        )
        existing = (
            SocialAccount.objects.filter(
                provider=sociallogin.account.provider, uid=sociallogin.account.uid
            )
            .select_related("user")
            .first()
        )
        if existing is not None:
            raise ImmediateHttpResponse(self._login_existing(request, sociallogin, existing))
        if address_taken:
            raise _refuse(request, sociallogin, _(_CLASH))

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data):
        # The provider's preferred_username is not ours to take: allauth makes one from the
        # address instead, unique here.
        data = {**data, "username": None}
        user = super().populate_user(request, sociallogin, data)
        user.is_staff = False
        user.is_superuser = False
        user.status = new_user_status()
        return user

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form=None):
        if form is not None:
            # allauth's social sign-up form, posted anyway: never save an address nobody
            # verified (get_signup_form_initial_data keeps the form from being shown).
            raise _refuse(request, sociallogin, _(_CLASH))
        for attempt in range(_SAVE_ATTEMPTS):
            try:
                with transaction.atomic():
                    return super().save_user(request, sociallogin, form)
            except IntegrityError:
                existing = (
                    SocialAccount.objects.filter(
                        provider=sociallogin.account.provider, uid=sociallogin.account.uid
                    )
                    .select_related("user")
                    .first()
                )
                if existing is not None:
                    # The same person's first login, running at the same moment, made the
                    # account: sign in to it instead of making a second one.
                    raise ImmediateHttpResponse(
                        self._login_existing(request, sociallogin, existing)
                    ) from None
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise _refuse(request, sociallogin, _(_CLASH)) from None
                # Most likely a username another new account took: start the user afresh.
                user = sociallogin.user
                user.pk = None
                user._state.adding = True
                user.username = ""
                sociallogin.account.pk = None
                sociallogin.account._state.adding = True
        raise AssertionError("unreachable")

    def _login_existing(self, request: HttpRequest, sociallogin: SocialLogin, account):
        account.extra_data = sociallogin.account.extra_data
        account.save(update_fields=["extra_data"])
        sociallogin.account = account
        sociallogin.user = account.user
        return perform_login(
            request,
            account.user,
            email_verification=socialaccount_settings.EMAIL_VERIFICATION,
            redirect_url=sociallogin.get_redirect_url(request),
            signal_kwargs={"sociallogin": sociallogin},
        )
