"""Who may call ``/v1``: the holder of a personal API key, sent as ``Authorization: Bearer``.

Never the browser session. The ``/v1`` views are CSRF-exempt (API clients have no CSRF
token), so if they also accepted the session cookie, any web page a signed-in user visits
could make their browser call the API with their identity (a cross-site form post carries
the cookie). A browser never adds an ``Authorization`` header on its own, so a bearer key
cannot be ridden that way.

The token is never logged, echoed in an error or stored (only its keyed digest is).

The key is checked against the cached row under the access version this process last read,
without a round trip first; the request carries a ``PolicyCheck`` that admission confirms in
the round trip that takes its stream slot (gateway/admission.py). When the version changed
(a key revoked, a user deactivated, a policy saved), admission raises ``PolicyChanged`` and
the request is authenticated again under the new version, before anything went upstream. An
answer made without admission (a 401, a 400, the model list) is confirmed with a GET before
it leaves, and made again if the version moved.

State: ``_marking``, the tasks recording a key's last use, held so they are not collected
before they end; never reset.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from gateway.api.errors import ApiError, error_response, from_gateway_error
from gateway.callers import (
    POLICY_ATTEMPTS,
    PolicyChanged,
    PolicyCheck,
    policies_version,
    policies_version_known,
    policies_version_moved,
)
from gateway.errors import PoliciesChanging
from gateway.key_cache import apikey_authenticate_cached
from gateway.keys import apikey_last_used_write, apikey_use_due

AsyncView = Callable[..., Awaitable[HttpResponse]]

_MISSING = (
    "You didn't provide an API key. Send it as `Authorization: Bearer aip_…`; "
    "create one under Settings → API keys."
)
_INVALID = "The API key is invalid, revoked or expired."


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(message: str, code: str | None) -> HttpResponse:
    error = ApiError(401, message, code=code, headers={"WWW-Authenticate": "Bearer"})
    return error_response(error)


_marking: set[asyncio.Task[object]] = set()


# Not thread-sensitive, and closing its connection: it runs after the request has ended.
_last_used_write = database_sync_to_async(apikey_last_used_write, thread_sensitive=False)


def _mark_used_later(key) -> None:
    """Record the key's use off the request's path: a once-a-minute write, not worth a
    client's wait. Set at once in memory (the row is cached and shared), so the requests
    that follow in this process do not write again."""
    now = timezone.now()
    key.last_used_at = now
    task = asyncio.get_running_loop().create_task(_last_used_write(key_id=key.pk, now=now))
    _marking.add(task)  # the loop holds tasks weakly
    task.add_done_callback(_marking.discard)


async def key_marks_flush() -> None:
    """Wait for pending last-used writes (tests)."""
    while _marking:
        await asyncio.gather(*list(_marking), return_exceptions=True)


def api_key_required(view: AsyncView) -> AsyncView:
    """Let the request through only with a usable key; sets ``request.api_key`` (its user is
    ``request.api_key.user``) and ``request.policy_check``. 401 in OpenAI's shape otherwise.
    The answer is always made under the access version current when it was confirmed (the
    module docstring)."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        token = _bearer_token(request)
        if token is None:
            return _unauthorized(_MISSING, None)
        version = policies_version_known() or await policies_version()
        for _ in range(POLICY_ATTEMPTS):
            check = PolicyCheck(version)
            try:
                response = await _with_key(request, token, check, view, args, kwargs)
            except PolicyChanged as changed:
                version = changed.version
                continue
            moved = None if check.confirmed else await policies_version_moved(version)
            if moved is None:
                return response
            response.close()  # made under rules that have changed since: make it again
            version = moved
        return error_response(from_gateway_error(PoliciesChanging()))

    return wrapper


async def _with_key(request, token: str, check: PolicyCheck, view, args, kwargs):
    key = await apikey_authenticate_cached(token=token, version=check.version)
    if key is None:
        return _unauthorized(_INVALID, "invalid_api_key")
    if apikey_use_due(key=key):
        _mark_used_later(key)
    request.api_key = key
    request.policy_check = check
    return await view(request, *args, **kwargs)


def api_methods(*methods: str) -> Callable[[AsyncView], AsyncView]:
    """405 in OpenAI's shape for any other method (Django's own 405 is an empty body)."""
    allowed = {method.upper() for method in methods}

    def decorate(view: AsyncView) -> AsyncView:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in allowed:
                error = ApiError(
                    405,
                    f"Method {request.method} is not allowed here.",
                    code="method_not_allowed",
                    headers={"Allow": ", ".join(sorted(allowed))},
                )
                return error_response(error)
            return await view(request, *args, **kwargs)

        return wrapper

    return decorate
