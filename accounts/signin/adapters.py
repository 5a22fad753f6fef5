from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.audit import request_ip
from accounts.signin.guessing import WAIT_ATTRIBUTE, password_pair_clear
from accounts.signup.policy import new_user_status, signup_refusal
from accounts.sso.logout import sso_logout_url


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Whether the local sign-up page is open at all; the address is checked on submit
        (accounts/signup/forms.py)."""
        if settings.AIPORTAL_SIGNUP == "domains" and settings.ACCOUNT_EMAIL_VERIFICATION != (
            "mandatory"
        ):
            # settings.py refuses this at start-up; this guards a configuration changed
            # later (tests, a settings override): a domain nobody has to prove is no policy.
            reason = _("Sign-up is closed until addresses are verified by mail.")
        else:
            reason = signup_refusal(email=None, via="local")
        if request is not None:
            request.signup_refusal = reason  # the "closed" page says why
        return reason is None

    def save_user(self, request, user, form, commit=True):
        """A new local account: never staff (the first admin comes from createsuperuser or
        ensure_admin), pending while the operator wants admin approval."""
        user = super().save_user(request, user, form, commit=False)
        user.is_staff = user.is_superuser = False
        user.status = new_user_status()
        if commit:
            user.save()
        return user

    def get_logout_redirect_url(self, request) -> str:
        # After an SSO sign-in, sign out at the provider too (accounts/sso/logout.py).
        url = super().get_logout_redirect_url(request)
        return sso_logout_url(request, after=url) or url

    # --- Password guessing (accounts/signin/guessing.py) ------------------------------------------

    def get_client_ip(self, request) -> str:
        # allauth's own limits (sign-in requests per address, second-factor codes) count per
        # client, not per edge proxy: behind Caddy REMOTE_ADDR is the proxy for everyone.
        return request_ip(request) or super().get_client_ip(request)

    def pre_authenticate(self, request, **credentials) -> None:
        """allauth's per-email failure limit refuses the owner's right password too, which
        lets a stranger lock anyone out: failures are limited per (account, address) by
        accounts.signin.guessing.GuessingGuardBackend instead, inside authenticate()."""

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        refusal = getattr(request, WAIT_ATTRIBUTE, None)
        if user is None and refusal is not None:
            raise ValidationError(refusal.message, code="too_many_login_attempts")
        return user

    def _delete_login_attempts_cached_email(self, request, **credentials) -> None:
        # A password reset (a link from the mailbox) proves the account is this client's.
        super()._delete_login_attempts_cached_email(request, **credentials)
        login = credentials.get("email") or credentials.get("username")
        if login:
            password_pair_clear(request=request, login=login)
