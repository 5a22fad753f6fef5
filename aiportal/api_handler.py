"""The ``/v1`` API's own Django handler: the same URLs and views, without the site's
middleware.

Django runs every ``MiddlewareMixin`` middleware under ASGI by handing its
``process_request`` and ``process_response`` to a thread and back (``sync_to_async``): the
site's nine cost eighteen hand-offs per request, which the gateway benchmark measured as
most of what ``/v1`` added to a token stream's first token. None of them serves ``/v1``: it
authenticates by bearer key, never by session or cookie (so it needs no session, CSRF,
messages or allauth state), and answers JSON and event streams, which no frame or CSP header
protects. asgi.py sends paths under ``/v1/`` here and everything else to the usual handler.
"""

from __future__ import annotations

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

API_PREFIX = "/v1/"


def is_api_path(path: str) -> bool:
    """Paths this handler serves: exactly the ones gateway.urls is mounted on. Anything
    else (``//v1``, ``/v1`` without its slash, ``/V1/``) gets the site's full stack."""
    return path.startswith(API_PREFIX)


class ApiASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        view = self._get_response_async

        async def with_api_headers(request):
            # ALLOWED_HOSTS, which the site's CommonMiddleware enforces: DisallowedHost
            # becomes a 400 in convert_exception_to_response, as it would there.
            request.get_host()
            response = await view(request)
            # What SecurityMiddleware would add that matters for an API's answers.
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            if settings.SECURE_REFERRER_POLICY:
                response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
            return response

        self._middleware_chain = convert_exception_to_response(with_api_headers)
