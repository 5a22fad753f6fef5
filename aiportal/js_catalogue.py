"""The JavaScript translation catalogue (djangojs domain), served so that it costs no request
per page view.

Pages load it from ``jsi18n/<language>/<version>.js``, where the version is a digest of the
catalogue itself: the response may then be cached for a year (``immutable``), and a new
catalogue (an upgrade, a new translation) has a new address. ``jsi18n/`` answers too, in
the language of the request, with an ETag, for anyone who wants the conventional address.

Only the project's own catalogue (LOCALE_PATHS) goes in: Django's default would merge every
installed app's djangojs strings (the admin's calendar and filter widgets, several KiB that
no page of ours uses; the admin serves its own).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import autoreload, translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation.trans_real import DjangoTranslation
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition
from django.views.i18n import JavaScriptCatalog

# A versioned address never changes content: a year, and no revalidation on reload.
VERSIONED_CACHE = {"public": True, "max_age": 365 * 24 * 3600, "immutable": True}


class _Catalogue(JavaScriptCatalog):
    def translation_for(self, language: str) -> DjangoTranslation:
        # localedirs=LOCALE_PATHS: ours only, not every installed app's (see the docstring).
        return DjangoTranslation(
            language, domain=self.domain, localedirs=[str(p) for p in settings.LOCALE_PATHS]
        )


class Built(NamedTuple):
    body: bytes
    version: str  # a digest of the body
    translates: bool  # False for English, the scripts' own language


@lru_cache(maxsize=16)
def _built(language: str) -> Built:
    """The catalogue script for ``language``, built once per process (and per .mo change)."""
    view = _Catalogue()
    with translation.override(language):
        view.translation = view.translation_for(language)
        context = view.get_context_data()
        body = view.render_to_response(context).content
    return Built(body, hashlib.sha256(body).hexdigest()[:16], bool(context["catalog"]))


def catalogue_body(language: str) -> bytes:
    return _built(language).body


def catalogue_version(language: str) -> str:
    return _built(language).version


def supported(language: str) -> str:
    """The LANGUAGES code that serves ``language`` (``en-us`` → ``en``)."""
    return translation.get_supported_language_variant(language)


def _address(code: str) -> str:
    return reverse(
        "js_catalogue_versioned", kwargs={"language": code, "version": catalogue_version(code)}
    )


def catalogue_url(language: str | None = None) -> str:
    """The versioned address of the catalogue, or "" for a language with nothing to translate
    (English, the scripts' own): static/common/i18n.js then uses the text as written, and
    the page spares a request."""
    code = supported(language or translation.get_language() or settings.LANGUAGE_CODE)
    return _address(code) if _built(code).translates else ""


def _response(language: str) -> HttpResponse:
    return HttpResponse(catalogue_body(language), content_type="text/javascript; charset=utf-8")


# Compressed: the French catalogue is some 20 KB of JSON, 6 KB gzipped (it holds no secret,
# so compression leaks nothing).
@gzip_page
def versioned(request: HttpRequest, language: str, version: str) -> HttpResponse:
    if language not in dict(settings.LANGUAGES):
        raise Http404("No such language.")
    if version != catalogue_version(language):
        # A page from before a deployment asks for the old catalogue: send it to the current
        # one, but let nobody cache that answer under the old address.
        response = redirect(_address(language))
        patch_cache_control(response, no_store=True)
        return response
    response = _response(language)
    patch_cache_control(response, **VERSIONED_CACHE)
    return response


def _request_version(request: HttpRequest, *args, **kwargs) -> str:
    return catalogue_version(supported(translation.get_language()))


@gzip_page
@condition(etag_func=_request_version)
def current(request: HttpRequest) -> HttpResponse:
    """The request's language (LocaleMiddleware chose it): revalidated by ETag, since the same
    address gives another language to another browser or after a change in Settings."""
    response = _response(supported(translation.get_language()))
    patch_cache_control(response, private=True, no_cache=True)
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response


@receiver(autoreload.file_changed)
def _forget_on_new_catalogue(sender, file_path: Path, **kwargs) -> None:
    # The development server keeps running when a .mo changes (Django reloads translations
    # in place); the bodies built from the old one must go with them.
    if file_path.suffix == ".mo":
        _built.cache_clear()
