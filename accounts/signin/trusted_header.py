"""Sign-in by a header that an authenticating proxy sets (docs/accounts.md, "Trusted-header
sign-in").

Off unless ``AIPORTAL_TRUSTED_HEADER`` names a header (``X-Forwarded-Email``, say). The header
is believed only on a request whose TCP peer is in ``AIPORTAL_TRUSTED_PROXIES``: anyone else
could type it, so from any other peer it is ignored and logged. ``REMOTE_ADDR`` is the TCP
peer as long as Daphne runs without ``--proxy-headers``.

On HTTP the middleware signs the named person in (creating the account, address verified,
with the status new accounts start with) and keeps the session in step with the header: when
it names someone else the session switches to them, and when a session the header made
arrives without it, the session ends. Websockets authenticate by that session
(aiportal/asgi.py); :func:`websocket_guard` refuses one whose header, from a trusted peer,
disagrees with the session. ``/v1`` never reads the header: it has its own handler without
this middleware (aiportal/api_handler.py) and takes API keys only.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from common.api_paths import is_api_path, is_scim_path

logger = logging.getLogger(__name__)

# In the session: the address the header gave when it signed this person in.
SESSION_KEY = "aiportal_trusted_header_email"
_BACKEND = "django.contrib.auth.backends.ModelBackend"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxies_parse(values: Iterable[str]) -> list[Network]:
    """CIDRs (or single addresses) into networks; ValueError names a bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an address or CIDR") from None
    return networks


def trusted_header_settings_check(header: str, proxies: list[str]) -> None:
    """Called by settings.py: a header needs the proxies it may come from."""
    if not header:
        return
    if not proxies:
        raise ImproperlyConfigured(
            "AIPORTAL_TRUSTED_HEADER needs AIPORTAL_TRUSTED_PROXIES: the addresses (CIDRs) of "
            "the proxies that set it; from anywhere else anyone could type it"
        )
    try:
        proxies_parse(proxies)
    except ValueError as exc:
        raise ImproperlyConfigured(f"AIPORTAL_TRUSTED_PROXIES: {exc}") from None


def peer_trusted(peer: str | None, proxies: Iterable[Network]) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def email_from_header(value: str | None) -> str | None:
    """The address in the header, lower-cased, or None when there is none or it is no
    address (a proxy that sends a user name instead is misconfigured)."""
    value = (value or "").strip().lower()
    if not value:
        return None
    try:
        validate_email(value)
    except ValidationError:
        logger.warning("trusted header %s holds no email address", settings.AIPORTAL_TRUSTED_HEADER)
        return None
    return value


def header_value(scope, name: bytes) -> str | None:
    """The header by its exact (lower-case) name in an ASGI scope. Django's META would also
    take ``X_Forwarded_Email``, which a proxy that strips ``X-Forwarded-Email`` from clients
    may let through, and would join a repeated header into one value: a repeat counts as
    no header at all."""
    values = [value for key, value in scope.get("headers") or () if key == name]
    if len(values) > 1:
        logger.warning("trusted header: %s sent more than once: ignored", name.decode("latin-1"))
        return None
    return values[0].decode("latin-1") if values else None


def user_for_trusted_email(*, email: str):
    """The account for an address the proxy vouches for, created when missing."""
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from accounts.signup.policy import new_user_status, signup_refusal

    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user
    if (reason := signup_refusal(email=email, via="directory")) is not None:
        logger.warning("trusted header: no account made for %s: %s", email, reason)
        return None
    try:
        with transaction.atomic():
            user = User(username=email, email=email, status=new_user_status())
            user.set_unusable_password()
            user.save()
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    except IntegrityError:
        # A second request of the same person created it first.
        return User.objects.filter(email__iexact=email).first()
    logger.info("trusted header: created the account of %s (status %s)", email, user.status)
    return user


class TrustedHeaderMiddleware:
    """After AuthenticationMiddleware: makes ``request.user`` the person the header names."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        if not settings.AIPORTAL_TRUSTED_HEADER:
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.header = settings.AIPORTAL_TRUSTED_HEADER.lower().encode("latin-1")
        self.meta_key = "HTTP_" + settings.AIPORTAL_TRUSTED_HEADER.upper().replace("-", "_")
        self.proxies = proxies_parse(settings.AIPORTAL_TRUSTED_PROXIES)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._async:
            return self._acall(request)
        if self._trusted(request) and (response := self._follow_header(request)) is not None:
            return response
        return self.get_response(request)

    async def _acall(self, request):
        # Sessions and accounts are synchronous ORM work; a request from any other peer
        # costs nothing but the address check.
        if self._trusted(request):
            response = await sync_to_async(self._follow_header)(request)
            if response is not None:
                return response
        return await self.get_response(request)

    def _trusted(self, request) -> bool:
        if is_api_path(request.path) or is_scim_path(request.path):
            # /v1 has its own handler in production; this holds wherever else it is served
            # (the test client): API keys only, never the header. /scim/v2: SCIM tokens only.
            return False
        peer = request.META.get("REMOTE_ADDR")
        if peer_trusted(peer, self.proxies):
            return True
        if self._header_value(request) is not None:
            logger.warning(
                "ignored the %s header from %s, which is not in AIPORTAL_TRUSTED_PROXIES",
                settings.AIPORTAL_TRUSTED_HEADER,
                peer,
            )
        return False

    def _header_value(self, request) -> str | None:
        scope = getattr(request, "scope", None)
        if scope is None:  # not ASGI (Django's test client): only META is there
            return request.META.get(self.meta_key)
        return header_value(scope, self.header)

    def _follow_header(self, request):
        """Signs in (or out) as the header says; a response when the sign-in needs a page
        first (the second factor), else None and the request goes on."""
        from django.contrib.auth import logout

        email = email_from_header(self._header_value(request))
        user = request.user
        if email is None:
            # The proxy no longer vouches for the person this header signed in.
            if request.session.get(SESSION_KEY):
                logout(request)
            return None
        if user.is_authenticated:
            if (user.email or "").lower() == email:
                return None
            # Never go on as the previous person, whoever signed them in.
            logout(request)
        user = user_for_trusted_email(email=email)
        if user is None or not user.is_active:
            logger.warning("trusted header: %s may not sign in (no active account)", email)
            return None
        return _sign_in(request, user, email)


def _sign_in(request, user, email: str):
    """Through allauth's sign-in, like every other way in: its stages ask for the second
    factor the person has (the proxy vouches for who they are, not for that factor), and
    the session carries the same records as any other (accounts/signin/mfa.py)."""
    from types import SimpleNamespace

    from allauth.account.app_settings import EmailVerificationMethod
    from allauth.account.internal.stagekit import unstash_login
    from allauth.account.utils import perform_login
    from allauth.core import context
    from django.shortcuts import redirect

    pending = unstash_login(request, peek=True)
    if pending is not None and pending.user is not None and pending.user.pk == user.pk:
        # The sign-in this header began waits for the second factor: allauth's pages (the
        # code form, sign-out) are let through, any other page is sent to the form.
        if request.path_info.startswith("/accounts/"):
            return None
        return redirect("mfa_authenticate")
    request.session[SESSION_KEY] = email
    user.backend = _BACKEND
    if not hasattr(request, "allauth"):
        request.allauth = SimpleNamespace()  # what allauth's middleware sets, further down
    with context.request_context(request):
        response = perform_login(
            request,
            user,
            email_verification=EmailVerificationMethod.NONE,
            redirect_url=request.get_full_path(),
        )
    if request.user.is_authenticated:
        return None  # signed in: the page asked for is served on this very request
    return response


def websocket_guard(inner):
    """Wraps the websocket router inside channels' AuthMiddlewareStack. From a trusted peer,
    a connection whose header names someone other than the session's user (or that lacks the
    header its session was made by) goes on as anonymous, which the consumers refuse. From
    any other peer the header means nothing: the session alone decides. Off: ``inner``."""
    if not settings.AIPORTAL_TRUSTED_HEADER:
        return inner
    from django.contrib.auth.models import AnonymousUser

    header = settings.AIPORTAL_TRUSTED_HEADER.lower().encode("latin-1")
    proxies = proxies_parse(settings.AIPORTAL_TRUSTED_PROXIES)

    async def guard(scope, receive, send):
        client = scope.get("client") or (None, None)
        raw = header_value(scope, header)
        if not peer_trusted(client[0], proxies):
            if raw is not None:
                logger.warning(
                    "ignored the %s header on a websocket from %s, which is not in "
                    "AIPORTAL_TRUSTED_PROXIES",
                    settings.AIPORTAL_TRUSTED_HEADER,
                    client[0],
                )
            return await inner(scope, receive, send)
        email = email_from_header(raw)
        user = scope.get("user")
        # AuthMiddleware has loaded the session already (to find the user): no query here.
        session = scope.get("session")
        made_by_header = bool(session is not None and session.get(SESSION_KEY))
        authenticated = user is not None and user.is_authenticated
        if email is None:
            agrees = not made_by_header
        else:
            agrees = authenticated and (user.email or "").lower() == email
        if authenticated and not agrees:
            scope = {**scope, "user": AnonymousUser()}
        return await inner(scope, receive, send)

    return guard
