"""A message is shown on the page a person lands on, once: never kept for a later page that
happens to show messages ("Successfully signed in" on the API keys page an hour later), and
never one that contradicts the page ("being prepared" above "ready")."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from accounts.models import DataExport
from accounts.privacy.export import data_export_build
from tests.accounts.data_fixtures import data_dir, signed_in  # noqa: F401 -- a fixture
from tests.conftest import PASSWORD

SIGNED_IN = "Successfully signed in"


def test_the_sign_in_message_shows_on_the_chat_and_not_later(owner):
    client = Client()
    response = client.post(
        "/accounts/login/", {"login": owner.email, "password": PASSWORD}, follow=True
    )
    assert response.request["PATH_INFO"] == reverse("chat:index")
    page = response.content.decode()
    assert 'class="flash-toast"' in page and SIGNED_IN in page
    assert SIGNED_IN not in client.get(reverse("apikeys:list")).content.decode()


def test_a_page_without_a_place_for_messages_still_shows_them_over_it(owner):
    client = signed_in(owner)
    key = client.post(reverse("apikeys:list"), {"name": "laptop"}).context["key"]
    client.post(reverse("apikeys:revoke", args=[key.pk]))
    settings_page = client.get(reverse("settings:index")).content.decode()
    assert 'class="flash-toast"' in settings_page and "is revoked" in settings_page
    assert "is revoked" not in client.get(reverse("apikeys:list")).content.decode()


def test_the_export_page_says_only_where_the_export_is(owner, data_dir):  # noqa: F811
    client = signed_in(owner)
    client.post(reverse("settings:data_export"))
    data_export_build(export_id=DataExport.objects.get(user=owner).pk)  # built at once
    page = client.get(reverse("settings:data")).content.decode()
    assert "Your export is ready" in page
    assert "being prepared" not in page
