from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import ValidationError

from accounts.signup_policy import signup_refusal
from accounts.sso.logout import sso_logout_url


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Whether the local sign-up page is open at all; the address is checked on submit."""
        return signup_refusal(email=None, via="local") is None

    def clean_email(self, email: str) -> str:
        email = super().clean_email(email)
        # allauth cleans every address through here, the ones an SSO provider sends and the
        # ones typed for a password reset too: only the sign-up form's is a local sign-up.
        match = getattr(self.request, "resolver_match", None)
        if match is None or match.url_name != "account_signup":
            return email
        reason = signup_refusal(email=email, via="local")
        if reason:
            raise ValidationError(reason)
        return email

    def get_logout_redirect_url(self, request) -> str:
        # After an SSO sign-in, sign out at the provider too (accounts/sso/logout.py).
        url = super().get_logout_redirect_url(request)
        return sso_logout_url(request, after=url) or url
