# ruff: noqa: F811 -- the fixtures imported from data_fixtures are parameters here
"""Adding a user in the admin makes an account that can sign in: the form asks for the
email, which becomes the username and a verified, primary allauth address."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.accounts.data_fixtures import staff, staff_client  # noqa: F401

ADD = "admin:accounts_user_add"


def add(client: Client, **fields: str):
    data = {"usable_password": "true", "password1": "", "password2": "", **fields}
    return client.post(reverse(ADD), data)


def test_the_add_form_asks_for_the_email_and_no_username(staff_client):
    page = staff_client.get(reverse(ADD)).content.decode()
    assert 'name="email"' in page and 'name="username"' not in page


def test_an_added_user_signs_in_with_the_address(staff_client):
    response = add(
        staff_client,
        email="Someone@Example.COM",
        password1="a long fresh password 7",
        password2="a long fresh password 7",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="someone@example.com")
    assert user.username == "someone@example.com" and user.has_usable_password()
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == ("someone@example.com", 1, 1)
    signed_in = Client().post(
        reverse("account_login"),
        {"login": "someone@example.com", "password": "a long fresh password 7"},
    )
    assert signed_in.status_code == 302 and signed_in.url == reverse("chat:index")


def test_an_account_without_a_password_is_for_sso_or_ldap(staff_client):
    response = add(staff_client, email="sso@example.com", usable_password="false")
    assert response.status_code == 302
    user = User.objects.get(email="sso@example.com")
    assert not user.has_usable_password()
    assert EmailAddress.objects.filter(user=user, verified=True, primary=True).exists()


def test_the_address_must_be_new_and_present(staff_client, staff):
    taken = add(staff_client, email=staff.email.upper(), usable_password="false")
    assert "An account with this address exists already." in taken.content.decode()
    missing = add(staff_client, email="", usable_password="false")
    assert "This field is required." in missing.content.decode()
    assert User.objects.count() == 1
