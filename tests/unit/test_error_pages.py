"""The 404, 403 and 500 pages look like the product and lead back to it; the 500 page is
rendered with no database and no context processors (it may be shown because they failed)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory, override_settings
from django.urls import path
from django.views import defaults


def _boom(request):
    raise RuntimeError("a bug")


def _forbidden(request):
    raise PermissionDenied


urlpatterns = [path("boom", _boom), path("forbidden", _forbidden)]


def _looks_like_the_product(html: str) -> None:
    assert "/static/chat/chat." in html  # hashed by the manifest storage
    assert 'class="auth-card error-card"' in html
    assert '<a href="/">Back to chat</a>' in html


def test_the_500_page_needs_no_database_and_leads_back():
    # No db fixture: any query here fails the test.
    response = defaults.server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    _looks_like_the_product(html)


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_an_unhandled_error_shows_the_500_page(db):
    client = Client(raise_request_exception=False)
    response = client.get("/boom")
    assert response.status_code == 500
    _looks_like_the_product(response.content.decode())


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_a_refusal_shows_the_403_page(db):
    response = Client().get("/forbidden")
    assert response.status_code == 403
    html = response.content.decode()
    assert "You may not do this" in html
    _looks_like_the_product(html)


@override_settings(DEBUG=False)
def test_a_missing_page_shows_the_404_page(client, db):
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html
    _looks_like_the_product(html)


def test_a_form_without_its_security_token_shows_the_product_s_403_page(db):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"login": "x"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "This form has expired" in html
    _looks_like_the_product(html)
