"""ASGI entry point: HTTP to Django (``/v1/`` to its own lean handler, see
aiportal/api_handler.py), ``ws/chat/`` to the chat consumer, ``ws/admin/jobs/<id>/`` to
the admin's refill progress (datasets/consumers.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiportal.settings")

# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.signin.trusted_header import websocket_guard  # noqa: E402
from aiportal.api_handler import ApiASGIHandler  # noqa: E402
from aiportal.tracing import http_traced, tracing_setup  # noqa: E402
from aiportal.websocket_origin import AllowedHostsOriginValidator  # noqa: E402
from chat.routing import websocket_urlpatterns as chat_urls  # noqa: E402
from common.api_paths import is_api_path  # noqa: E402
from common.body_limits import body_capped  # noqa: E402
from common.websockets import SessionAuthStack  # noqa: E402
from datasets.routing import websocket_urlpatterns as datasets_urls  # noqa: E402

# Off unless the OTEL_* variables ask for it (aiportal/tracing.py); before any request.
tracing_setup(process="web")

api_asgi_app = ApiASGIHandler()


async def _http_app(scope, receive, send):
    app = api_asgi_app if is_api_path(scope["path"]) else django_asgi_app
    await app(scope, receive, send)


# Request bodies capped by kind of path (common/body_limits.py): aiportal.serve enforces
# them in the web server before the body is stored; this is the same line for ASGI servers
# that hand a body over as it arrives (runserver, uvicorn).
# A server span per request when tracing is on (outermost: a refused body is traced too).
http_app = http_traced(body_capped(_http_app))


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            SessionAuthStack(websocket_guard(URLRouter([*chat_urls, *datasets_urls])))
        ),
    }
)
