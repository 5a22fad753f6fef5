"""The LDAP authentication backend: django-auth-ldap's, fitted to aiportal's accounts
(settings from accounts/signin/ldap.py; docs/accounts.md, "LDAP").

It sits after ModelBackend and allauth's backend, so a local password is tried first and
the directory is asked only when that fails. What it adds to django-auth-ldap:

- allauth's sign-in form calls ``authenticate(email=..., password=...)``; that login (an
  address or a directory user name, whichever the person typed) becomes the LDAP user name
  the search filter looks for.
- the Django account is the one with the directory's address (``mail``), made on the first
  sign-in with the status new accounts start with and a verified address, so mandatory
  email verification never stops a directory user.
- the mapped groups follow the directory (accounts.signin.ldap.ldap_groups_sync).
- a directory that is down or refuses the portal's query is said so on the sign-in page;
  local accounts go on signing in.
"""

from __future__ import annotations

import logging

import ldap
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.dispatch import receiver
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_auth_ldap.backend import LDAPBackend, ldap_error, populate_user

from accounts.models import User
from accounts.signin.ldap import ldap_groups_sync
from accounts.signup.policy import new_user_status, signup_refusal

logger = logging.getLogger(__name__)

# Marked (gettext_noop) and translated where shown: callers compare the English text.
DIRECTORY_UNREACHABLE = gettext_noop(
    "The directory (LDAP) cannot be reached just now, so directory accounts cannot sign in. "
    "Try again in a few minutes, or tell an administrator."
)
DIRECTORY_FAILED = gettext_noop(
    "The directory (LDAP) refused the portal's query, so directory accounts cannot sign in. "
    "An administrator needs to check the LDAP settings."
)
_UNREACHABLE = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR)


class DirectoryBackend(LDAPBackend):
    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        login = username if username is not None else email
        if not login:
            return None
        # Django makes a backend per authenticate() call: this is the request of this one.
        self._request = request
        return super().authenticate(request, username=login, password=password)

    def get_or_build_user(self, username, ldap_user):
        address = _directory_email(ldap_user, self.settings.USER_ATTR_MAP["email"])
        if not address:
            logger.warning("LDAP: %s has no email address: refused", ldap_user.dn)
            raise ldap_user.AuthenticationFailed("no email address in the directory")
        user = User.objects.filter(email__iexact=address).first()
        if user is not None:
            return user, False
        if (reason := signup_refusal(email=address, via="directory")) is not None:
            raise ldap_user.AuthenticationFailed(reason)
        return User(username=address, email=address, status=new_user_status()), True

    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        try:
            with transaction.atomic():
                _email_verified(user)
                group_map = settings.AIPORTAL_LDAP_GROUP_MAP
                if group_map:
                    ldap_groups_sync(
                        user=user, member_of=set(ldap_user.group_names), group_map=group_map
                    )
        except ldap.LDAPError as exc:
            # Groups unread are groups unsynced: a person just removed from one must not
            # keep it, so this sign-in fails as a directory failure.
            _directory_error(request=self._request, exception=exc)
            return None
        return user


def _directory_email(ldap_user, attribute: str) -> str:
    values = (ldap_user.attrs or {}).get(attribute) or []
    return values[0].strip().lower() if values else ""


def _email_verified(user: User) -> None:
    """The directory vouches for the address: allauth sees it verified (and primary when
    the account has no other)."""
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        has_primary = EmailAddress.objects.filter(user=user, primary=True).exists()
        EmailAddress.objects.create(
            user=user, email=user.email, verified=True, primary=not has_primary
        )
    elif not address.verified:
        address.verified = True
        address.save(update_fields=["verified"])


def _directory_error(*, request, exception: Exception) -> None:
    unreachable = isinstance(exception, _UNREACHABLE)
    logger.error("LDAP %s: %r", "unreachable" if unreachable else "error", exception)
    if request is not None:
        text = DIRECTORY_UNREACHABLE if unreachable else DIRECTORY_FAILED
        messages.error(request, _(text), fail_silently=True)


@receiver(populate_user, sender=DirectoryBackend, dispatch_uid="aiportal-ldap-populate")
def _lowercase_email(sender, user, ldap_user, **kwargs) -> None:
    # The attribute map copies ``mail`` as the directory spells it; accounts keep it lower.
    user.email = (user.email or "").strip().lower()


@receiver(ldap_error, sender=DirectoryBackend, dispatch_uid="aiportal-ldap-error")
def _ldap_error_shown(sender, context, user, request, exception, **kwargs) -> None:
    # django-auth-ldap has logged it and will treat the sign-in as failed; the person learns
    # that the directory, not their password, is the problem.
    _directory_error(request=request, exception=exception)
