"""The local sign-up form: allauth's, gated by the sign-up policy (accounts/signup/policy.py).

The gate sits here rather than in the adapter's ``clean_email`` because allauth calls that for
every address form, and adding a second address to an existing account is not a sign-up.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.signup.policy import signup_refusal

# Marked (gettext_noop) and translated where shown: callers compare the English text.
INVITE_LINK_NEEDED = gettext_noop(
    "Sign-up needs an invitation: open the link in your invitation mail, then sign up with "
    "the address it was sent to."
)


class SignupForm(AllauthSignupForm):
    def clean_email(self) -> str:
        email = super().clean_email()
        if settings.AIPORTAL_SIGNUP == "invite":
            # Knowing an invited address is not enough: the invite link (which only its
            # mailbox received) stashes the address as verified, and only that one may sign
            # up here. The same words whether or not the address was invited: no oracle.
            request = context.request
            if not get_adapter(request).is_email_verified(request, email):
                raise ValidationError(_(INVITE_LINK_NEEDED))
        reason = signup_refusal(email=email, via="local")
        if reason:
            raise ValidationError(reason)
        return email
