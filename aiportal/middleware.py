"""Static files without a thread hop for every other request, and the CSP's image sources.

WhiteNoise's middleware is synchronous only. One sync-only middleware in the chain makes
Django run the whole request, ``/v1`` token streams included, through ``sync_to_async`` and
back through ``async_to_sync``: a thread and two hand-offs per request, which the gateway
benchmark measured as most of the Daphne process's added latency at 64 streams. This
subclass is async-capable: a request outside ``STATIC_URL`` goes straight to the next
middleware on the event loop, and only a static file is looked up and opened in a thread
(finding it may touch the disk when autorefresh is on, in DEBUG).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, *args, **kwargs) -> None:
        super().__init__(get_response, *args, **kwargs)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._async:
            return self._acall(request)
        return super().__call__(request)

    def _static_file(self, path: str):
        if self.autorefresh:
            return self.find_file(path)
        return self.files.get(path)

    def _serve_static(self, request):
        static_file = self._static_file(request.path_info)
        return None if static_file is None else self.serve(static_file, request)

    async def _acall(self, request):
        if request.path_info.startswith(self.static_prefix):
            response = await sync_to_async(self._serve_static, thread_sensitive=False)(request)
            if response is not None:
                return response
        return await self.get_response(request)


@sync_and_async_middleware
def images_from_static_only(get_response):
    """Narrow the CSP's ``img-src`` from the whole origin to its static files, the chat's
    attachments (and data:).

    Model output and documents are untrusted, and an image URL on our own origin
    (``/datasets/1/export.zip``) would be fetched by every reader's browser with their
    cookie. A CSP source cannot name a path without a host, so the source is built per
    request from the host Django already validated (ALLOWED_HOSTS). Placed after django-csp's
    middleware in MIDDLEWARE so the attribute is set before that middleware writes the header.
    """

    def narrowed(request, response):
        static = settings.STATIC_URL
        origin = f"{request.scheme}://{request.get_host()}"
        if not static.startswith(("http://", "https://")):
            static = f"{origin}{static}"
        # And the chat's attachments (chat/views/attachments.py): served only to their owner
        # or a share link's holder, as untrusted bytes that never change state.
        response._csp_replace = {
            **getattr(response, "_csp_replace", {}),
            "img-src": [static, f"{origin}/chat/attachments/", "data:"],
        }
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request):
            return narrowed(request, await get_response(request))

    else:

        def middleware(request):
            return narrowed(request, get_response(request))

    return middleware
