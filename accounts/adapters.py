from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import ValidationError

from accounts.signup_policy import signup_refusal


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Whether the local sign-up page is open at all; the address is checked on submit."""
        return signup_refusal(email=None, via="local") is None

    def clean_email(self, email: str) -> str:
        email = super().clean_email(email)
        reason = signup_refusal(email=email, via="local")
        if reason:
            raise ValidationError(reason)
        return email
