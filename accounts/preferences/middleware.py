"""Every page in the language a signed-in person chose on Settings → Preferences.

A middleware rather than Django's language cookie set on save: the preference is the
person's, not the browser's, so it must follow them to every device they sign in on, and a
change on one device must show on the others at their next page. A cookie would stay on the
device that saved it (and outlive a sign-out, showing the next person that language).

LocaleMiddleware has already activated the browser's language; this runs after
AuthenticationMiddleware and overrides it when the person set one. The row it reads is kept
on the request (``request.preferences``) so that the theme's context processor reads no
second time. Async-capable, like the rest of the chain: /v1 requests (no session cookie)
cost nothing here, and no request hops to a thread.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.utils import translation

from accounts.models import Preferences


def _activate(request, preferences: Preferences | None) -> None:
    request.preferences = preferences
    language = preferences.language if preferences is not None else ""
    if language and language in dict(settings.LANGUAGES):
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


class PreferredLanguageMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    @staticmethod
    def _may_be_signed_in(request) -> bool:
        # Without a session cookie nobody is signed in: skip loading the (anonymous) user.
        return settings.SESSION_COOKIE_NAME in request.COOKIES

    def __call__(self, request):
        if self._async:
            return self._acall(request)
        preferences = None
        if self._may_be_signed_in(request) and request.user.is_authenticated:
            preferences = Preferences.objects.filter(user=request.user).first()
        _activate(request, preferences)
        return self.get_response(request)

    async def _acall(self, request):
        preferences = None
        if self._may_be_signed_in(request):
            user = await request.auser()
            if user.is_authenticated:
                # The sync views read request.user: hand them the user loaded here rather than
                # let them load it a second time.
                request.user = user
                preferences = await Preferences.objects.filter(user=user).afirst()
        _activate(request, preferences)
        return await self.get_response(request)
