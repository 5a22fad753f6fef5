"""The ``/v1`` API's own Django handler: the same URLs and views, without the site's
middleware.

Django runs every ``MiddlewareMixin`` middleware under ASGI by handing its
``process_request`` and ``process_response`` to a thread and back (``sync_to_async``): the
site's nine cost eighteen hand-offs per request, which the gateway benchmark measured as
most of what ``/v1`` added to a token stream's first token. None of them serves ``/v1``: it
authenticates by bearer key, never by session or cookie (so it needs no session, CSRF,
messages or allauth state), and answers JSON and event streams, which no frame or CSP header
protects. asgi.py sends paths under ``/v1/`` here and everything else to the usual handler.

It also serves each request without Django's thread hops (``ApiASGIHandler.handle``).
Django's handler wraps every request in a ``ThreadSensitiveContext`` (a new thread for the
request's thread-sensitive sync calls, and another to join it at the end) and sends
``request_started`` and ``request_finished`` to their sync receivers through a thread: with
64 streams open the benchmark measured those threads as most of what a first token waited
for in the Daphne process (GIL hand-offs, thread starts). No ``/v1`` code makes a
thread-sensitive call: every database read or write runs in a thread of its own
(``database_sync_to_async(thread_sensitive=False)``), which closes that thread's old
connections itself, so ``request_started``'s ``close_old_connections`` has nothing to do
here. ``request_finished`` still runs, in the loop (``response.close()``): its receivers only
close what this thread opened, which is nothing, and reset the urlconf.
"""

from __future__ import annotations

import asyncio
import contextlib

from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.urls import set_script_prefix


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

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"The /v1 handler serves HTTP only, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with contextlib.closing(body_file):
            set_script_prefix(get_script_prefix(scope))
            request, refusal = self.create_request(scope, body_file)
            if request is None:
                await self.send_response(refusal, send)
                refusal.close()
                return
            await self._answer_unless_left(request, receive, send)

    async def _answer_unless_left(self, request, receive, send) -> None:
        """Answer in this task, and cancel it if the client leaves first (which closes the
        upstream stream). In this task, not a new one as Django does: a new task starts on
        the event loop's next turn, and with many streams open a turn is a millisecond or
        more, which every first token waited for."""
        answering = asyncio.current_task()
        state = {"answering": True, "left": False}

        def client_left(listener: asyncio.Task) -> None:
            # Runs on a later turn: only while the answer is still being made or sent.
            if state["answering"] and not listener.cancelled():
                state["left"] = True
                answering.cancel()

        listener = asyncio.ensure_future(self.listen_for_disconnect(receive))
        listener.add_done_callback(client_left)
        try:
            await self._answer(request, send)
        except asyncio.CancelledError:
            if not state["left"]:
                raise  # cancelled from outside (the server is stopping): not ours to keep
            answering.uncancel()
            error = listener.exception()
            if error is not None and not isinstance(error, RequestAborted):
                raise error from None  # an ASGI message that is not a disconnect
        finally:
            state["answering"] = False
            listener.cancel()

    async def _answer(self, request, send) -> None:
        response = await self.run_get_response(request)
        try:
            await self.send_response(response, send)
        finally:
            response.close()
