"""Settings: the index links every part of a person's settings, the chat sidebar links it,
and the pages are for signed-in people only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.accounts.data_fixtures import signed_in

INDEX = "/settings/"


def test_the_index_links_profile_password_keys_and_data(owner):
    response = signed_in(owner).get(INDEX)
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("account_email", "account_change_password", "apikeys:list", "settings:data"):
        assert f'href="{reverse(name)}"' in page, name
    assert reverse("admin:index") not in page  # not staff


def test_staff_also_find_the_admin(make_user):
    admin = make_user("admin@example.com", is_staff=True)
    assert reverse("admin:index") in signed_in(admin).get(INDEX).content.decode()


def test_the_chat_sidebar_links_settings(owner):
    page = signed_in(owner).get(reverse("chat:index")).content.decode()
    assert f'href="{INDEX}"' in page


def test_the_keys_page_is_still_under_settings(owner):
    page = signed_in(owner).get("/settings/keys/").content.decode()
    assert f'href="{INDEX}"' in page


@pytest.mark.parametrize("url", [INDEX, reverse("settings:data")])
def test_signed_out_visitors_are_sent_to_sign_in(db, url):
    response = Client().get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_data_page_offers_an_export_and_the_deletion(owner):
    page = signed_in(owner).get(reverse("settings:data")).content.decode()
    assert reverse("settings:data_export") in page
    assert reverse("settings:account_delete") in page
    assert 'name="confirm_email"' in page
    assert 'http-equiv="refresh"' not in page  # nothing under way, nothing to look at again
