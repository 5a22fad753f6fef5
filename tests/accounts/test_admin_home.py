# ruff: noqa: F811 -- the fixtures imported from data_fixtures are parameters here
"""The admin's home: branded aiportal, every section with a name of its own, the live pages
linked, and no "Add" where a row must come from the product itself."""

from __future__ import annotations

from collections import Counter

from django.urls import reverse

from tests.accounts.data_fixtures import staff, staff_client  # noqa: F401


def test_the_admin_is_branded_aiportal(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert "aiportal administration" in html
    assert "<title>Administration | aiportal admin</title>" in html
    assert "Django administration" not in html and "Django site admin" not in html


def test_no_two_sections_share_a_name(staff_client):
    response = staff_client.get(reverse("admin:index"))
    names = Counter(app["name"].casefold() for app in response.context["app_list"])
    assert [name for name, count in names.items() if count > 1] == []
    # allauth's "account" app is where people's sign-in addresses are.
    labels = {app["app_label"]: app["name"] for app in response.context["app_list"]}
    assert (labels["accounts"], labels["account"]) == ("Accounts", "Sign-in addresses")


def test_the_home_links_the_live_pool(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("admin:gateway_worker_pool")}"' in html


def test_conversations_and_messages_cannot_be_added_in_the_admin(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    for model in ("conversation", "message"):
        add = reverse(f"admin:chat_{model}_add")
        assert f'href="{add}"' not in html
        assert staff_client.get(add).status_code == 403
        # Still listed and readable.
        assert staff_client.get(reverse(f"admin:chat_{model}_changelist")).status_code == 200


def test_the_home_links_the_usage_page(staff_client):
    html = staff_client.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("admin:gateway_usagerecord_dashboard")}"' in html


def test_staff_without_those_permissions_see_no_live_pages(make_user):
    from django.test import Client

    helper = make_user("helpdesk@example.com")
    helper.is_staff = True
    helper.save()
    client = Client()
    client.force_login(helper)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="live-pages"' not in html
