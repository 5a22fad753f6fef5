"""Sign-out at the provider too (OpenID Connect RP-Initiated Logout 1.0).

Signing out of aiportal ends the local session. When the session came from a provider whose
discovery document has an ``end_session_endpoint`` (and ``rp_logout`` is not switched off),
the browser is then sent there, so that the next "Sign in with ..." asks for the password
again instead of coming straight back in. Without an ID token kept in the session, the
request names the client (``client_id``), which the specification allows.
"""

from __future__ import annotations

import logging

import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp
from django.core.exceptions import MultipleObjectsReturned
from django.http import HttpRequest
from django.utils.http import urlencode

from accounts.sso.signals import SESSION_PROVIDER_KEY

logger = logging.getLogger(__name__)


def sso_logout_url(request: HttpRequest, *, after: str) -> str | None:
    """Where to send the browser to end the provider's session, coming back to ``after``
    (a path on this site); None when this session did not come from a provider that can."""
    provider_id = request.session.get(SESSION_PROVIDER_KEY)
    if not provider_id:
        return None
    adapter = get_adapter(request)
    try:
        app = adapter.get_app(request, provider=provider_id)
    except (SocialApp.DoesNotExist, MultipleObjectsReturned):
        return None  # removed (or duplicated) since this sign-in
    if app.provider != "openid_connect" or not app.settings.get("rp_logout", True):
        return None
    provider = app.get_provider(request)
    try:
        with adapter.get_requests_session() as session:
            response = session.get(provider.server_url)
            response.raise_for_status()
            endpoint = response.json().get("end_session_endpoint")
    except (requests.RequestException, ValueError):
        logger.warning("no sign-out at provider %s: discovery failed", provider_id, exc_info=True)
        return None
    if not endpoint:
        return None
    query = urlencode(
        {"client_id": app.client_id, "post_logout_redirect_uri": request.build_absolute_uri(after)}
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
