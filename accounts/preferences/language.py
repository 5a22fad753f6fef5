"""The language to speak to a person where Django's LocaleMiddleware does not run (the chat's
websocket): their preference, else their browser's Accept-Language, else LANGUAGE_CODE."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import get_supported_language_variant

# Django's own parser (the one LocaleMiddleware uses): ordered by q, malformed headers empty.
from django.utils.translation.trans_real import parse_accept_lang_header

from accounts.models import Preferences, User


def language_choose(*, preference: str, accept_language: str) -> str:
    if preference in dict(settings.LANGUAGES):
        return preference
    for code, _quality in parse_accept_lang_header(accept_language[:255]):
        if code == "*":
            break
        try:
            return get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


async def language_for_socket(*, user: User, scope: dict) -> str:
    """The language of a websocket's user: read once, when it connects."""
    preference = (
        await Preferences.objects.filter(user=user).values_list("language", flat=True).afirst()
    )
    headers = dict(scope.get("headers") or [])
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    return language_choose(preference=preference or "", accept_language=accept)
