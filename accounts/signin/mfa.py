"""Two-factor authentication: who must have a second factor, and allauth.mfa's adapter.

``AIPORTAL_MFA_REQUIRED`` says who must: ``none``, ``staff`` (``is_staff`` or
``is_superuser``) or ``all``. A person who must and has none is sent to enrol from every page
(accounts/signin/mfa_middleware.py) and their websockets are refused
(accounts/access/live.py); they can still sign out, manage their account and enrol.
"""

from __future__ import annotations

import base64
import hashlib

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

# The kinds that are a second factor by themselves; recovery codes only back one up.
FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def mfa_required(user) -> bool:
    """Whether the policy requires this person to have a second factor."""
    policy = settings.AIPORTAL_MFA_REQUIRED
    if policy == "all":
        return True
    if policy == "staff":
        return bool(user.is_staff or user.is_superuser)
    return False


def mfa_enrolled(user) -> bool:
    """Whether this person has a second factor (one query)."""
    return Authenticator.objects.filter(user_id=user.pk, type__in=FACTOR_TYPES).exists()


def mfa_enrolment_required(user) -> bool:
    """Whether this person must enrol before doing anything else. No query unless the
    policy applies to them."""
    return mfa_required(user) and not mfa_enrolled(user)


# In the session: the user id whose sign-in was found to have used their second factor (or
# who had none then), so the check below costs one query per session, not per request.
SESSION_CHECKED_KEY = "aiportal_second_factor_checked"
# allauth's log of the ways this session's person proved who they are (allauth.account's
# internal flows.login keeps it under these names).
_RECORDS_KEY = "account_authentication_methods"
_RECORDS_USER_KEY = "account_authentication_methods_user"


def session_second_factor_skipped(*, session, user) -> bool:
    """Whether this session was signed in without a second factor its person has.

    Every way in that asks for the factor (allauth's sign-in in all its forms: password,
    SSO, an emailed link, a confirmed address, the trusted header) leaves an "mfa" record in
    the session; any other ``login()`` (Django admin's own form, a path added later) does
    not, and the session is refused. ``session`` is a session store or its loaded data."""
    if session.get(SESSION_CHECKED_KEY) == str(user.pk):
        return False
    records = session.get(_RECORDS_KEY) if session.get(_RECORDS_USER_KEY) == str(user.pk) else []
    used = any(isinstance(r, dict) and r.get("method") == "mfa" for r in records or [])
    return not used and mfa_enrolled(user)


def _fernet() -> MultiFernet:
    # A Fernet key per accepted SECRET_KEY (the current one encrypts), so that rotating the
    # secret with the old one kept in SECRET_KEY_FALLBACKS does not lose anyone's factor.
    keys = []
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        digest = hashlib.sha256(f"aiportal.mfa.secrets:{secret}".encode()).digest()
        keys.append(Fernet(base64.urlsafe_b64encode(digest)))
    return MultiFernet(keys)


class MfaAdapter(DefaultMFAAdapter):
    """The TOTP secret and the recovery codes' seed are stored encrypted with a key derived
    from SECRET_KEY, so a copy of the database alone does not let anyone generate codes. A
    person whom the policy requires to have a factor cannot remove their last one."""

    def encrypt(self, text: str) -> str:
        return _fernet().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        try:
            return _fernet().decrypt(encrypted_text.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "A second-factor secret cannot be decrypted: SECRET_KEY changed without the "
                "old value in SECRET_KEY_FALLBACKS."
            ) from None

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        if authenticator.type not in FACTOR_TYPES or not mfa_required(authenticator.user):
            return True
        others = Authenticator.objects.filter(
            user_id=authenticator.user_id, type__in=FACTOR_TYPES
        ).exclude(pk=authenticator.pk)
        return others.exists()
