"""Password guessing is slowed per (account, client address), never refused account-wide.

An account-wide lock (allauth's ``login_failed`` per email) is a weapon: anyone who knows an
address can keep its owner out by typing wrong passwords. Here failed password checks are
counted in moving windows (the ``limits`` library, over the project's Redis, or memory in the
embedded default) under two keys:

- **the pair** (account, client address), ``AIPORTAL_SIGNIN_PAIR_LIMITS``: tiers such as
  ``5/5 minutes;15/hour;30/day``, so a guesser waits longer and longer. The owner at another
  address is not affected; a password-reset link clears the pair it is used from.
- **the address**, ``AIPORTAL_SIGNIN_ADDRESS_LIMITS``: a generous ceiling across all accounts
  against spraying one password over many accounts from one place.

Every password check goes through Django's ``authenticate()`` (allauth's sign-in and
re-authentication, LDAP, anything added later): ``GuessingGuardBackend``, first in
AUTHENTICATION_BACKENDS, refuses the check while a limit is reached, and the
``user_login_failed`` signal counts each failure. The sign-in form then says how long to wait
(accounts/signin/adapters.py) and answers 429 with Retry-After (``RetryAfterMiddleware``).

The client address is ``accounts.audit.request_ip`` (the edge's X-Forwarded-For entry behind
the proxy), IPv6 taken by its /64 as allauth does: one host holds a whole /64.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.exceptions import PermissionDenied
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from accounts.audit import request_ip

logger = logging.getLogger(__name__)

# On the request: seconds until a refused password check may be tried again.
WAIT_ATTRIBUTE = "signin_retry_after"
_IPV6_PREFIX = 64


@dataclass(frozen=True)
class Refusal:
    seconds: int
    scope: str  # "pair" or "address"

    @property
    def message(self) -> str:
        wait = wait_text(self.seconds)
        if self.scope == "address":
            return _(
                "Too many failed sign-ins from your network address. Try again in %(wait)s."
            ) % {"wait": wait}
        return _(
            "Too many failed sign-ins for this account from your network address. "
            "Try again in %(wait)s, or reset your password by email."
        ) % {"wait": wait}


def wait_text(seconds: int) -> str:
    if seconds < 120:
        return ngettext("%(count)s second", "%(count)s seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
    hours = math.ceil(minutes / 60)
    return ngettext("%(count)s hour", "%(count)s hours", hours) % {"count": hours}


@lru_cache(maxsize=1)
def _limiter_for(uri: str, prefix: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(uri, key_prefix=prefix))


def _limiter() -> MovingWindowRateLimiter:
    if settings.REDIS_URL:
        return _limiter_for(settings.REDIS_URL, f"{settings.REDIS_PREFIX}:signin")
    return _limiter_for("memory://", "signin")


@lru_cache(maxsize=8)
def _items(spec: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(spec)) if spec else ()


def client_address(request) -> str:
    address = request_ip(request)
    if address is None:
        return "unknown"
    parsed = ipaddress.ip_address(address)
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{_IPV6_PREFIX}", strict=False).network_address)
    return address


def _account(login: str) -> str:
    # A keyed digest: the counters in Redis name no address.
    return salted_hmac("accounts.guessing.account", login.strip().lower()).hexdigest()[:32]


def _keys(request, login: str) -> list[tuple[str, RateLimitItem, tuple[str, ...]]]:
    address = client_address(request)
    pair = (_account(login), address)
    return [
        *(("pair", item, ("pair", *pair)) for item in _items(settings.AIPORTAL_SIGNIN_PAIR_LIMITS)),
        *(
            ("address", item, ("address", address))
            for item in _items(settings.AIPORTAL_SIGNIN_ADDRESS_LIMITS)
        ),
    ]


def password_check_refusal(*, request, login: str) -> Refusal | None:
    """Why a password for ``login`` may not be checked from this client now, or None."""
    limiter = _limiter()
    refusal = None
    for scope, item, identifiers in _keys(request, login):
        if limiter.test(item, *identifiers):
            continue
        reset = limiter.get_window_stats(item, *identifiers).reset_time
        seconds = max(1, math.ceil(reset - time.time()))
        if refusal is None or seconds > refusal.seconds:
            refusal = Refusal(seconds=seconds, scope=scope)
    return refusal


def password_failure_record(*, request, login: str) -> None:
    limiter = _limiter()
    for _scope, item, identifiers in _keys(request, login):
        limiter.hit(item, *identifiers)


def password_pair_clear(*, request, login: str) -> None:
    """Forget this client's failures for ``login``: it has just proved the account is its
    own (a correct password with any second factor, or a password-reset link)."""
    limiter = _limiter()
    for scope, item, identifiers in _keys(request, login):
        if scope == "pair":
            limiter.clear(item, *identifiers)


def guessing_counts_clear() -> None:
    """Every counter (tests, and an operator who wants a clean slate)."""
    _limiter().storage.reset()


def _login_of(credentials: dict) -> str | None:
    login = credentials.get("email") or credentials.get("username") or credentials.get("login")
    return str(login) if login else None


class GuessingGuardBackend(BaseBackend):
    """First in AUTHENTICATION_BACKENDS: refuses a password check while its limits are
    reached. PermissionDenied makes ``authenticate()`` stop before any backend that would
    check the password (the local one, LDAP). It never signs anyone in."""

    def authenticate(self, request, **credentials):
        login = _login_of(credentials)
        if request is None or not login or "password" not in credentials:
            return None
        refusal = password_check_refusal(request=request, login=login)
        if refusal is None:
            return None
        setattr(request, WAIT_ATTRIBUTE, refusal)
        logger.warning(
            "sign-in: password check refused (%s limit) from %s for %ss",
            refusal.scope,
            client_address(request),
            refusal.seconds,
        )
        raise PermissionDenied(refusal.message)

    def get_user(self, user_id):
        # Being first, this is the backend Client.force_login (tests, benchmarks) records in
        # a session: load its user as the local backend does.
        return ModelBackend().get_user(user_id)


def on_user_login_failed(sender, credentials, request=None, **_: object) -> None:
    """Counts a wrong password, wherever it was checked; not a check the guard refused."""
    login = _login_of(credentials)
    if request is None or not login or getattr(request, WAIT_ATTRIBUTE, None):
        return
    password_failure_record(request=request, login=login)


def on_user_logged_in(sender, request, user, **_: object) -> None:
    if request is None:
        return
    for login in {user.email, user.get_username()} - {None, ""}:
        password_pair_clear(request=request, login=login)


class RetryAfterMiddleware:
    """A page that answered a refused password check says so in its status: 429 with
    Retry-After, instead of the form's usual 200."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        refusal = getattr(request, WAIT_ATTRIBUTE, None)
        if refusal is not None and response.status_code == 200:
            response.status_code = 429
            response.reason_phrase = "Too Many Requests"
            response["Retry-After"] = str(refusal.seconds)
        return response
