"""Personal API keys: the services, Settings → API keys, ``manage.py apikey`` and the admin."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gateway import keys
from gateway.models import ApiKey, UsageRecord
from tests.gateway.api_support import fast_passwords

TOKEN = re.compile(r"^aip_[0-9a-f]{12}_[A-Za-z0-9]{40}$")
LIST = "/settings/keys/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def all_columns(key: ApiKey) -> str:
    return str(ApiKey.objects.filter(pk=key.pk).values().get())


# --- Services ---------------------------------------------------------------------------------


def test_a_new_key_is_returned_once_and_only_its_digest_is_stored(owner):
    key, token = keys.apikey_create(user=owner, name="laptop")
    assert TOKEN.match(token)
    assert token.startswith(f"aip_{key.prefix}_")
    secret = token.split("_", 2)[2]
    assert token not in all_columns(key) and secret not in all_columns(key)
    assert len(key.digest) == 64 and key.digest not in token
    assert keys.apikey_authenticate(token=token) == key


def test_keys_are_unguessable_and_distinct(owner):
    tokens = {keys.apikey_create(user=owner, name=f"k{i}")[1] for i in range(20)}
    assert len(tokens) == 20
    assert len({token[4:16] for token in tokens}) == 20


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # wrong secret
        lambda t: t.upper(),
        lambda t: t + "x",
        lambda t: t.replace("aip_", "sk-"),
        lambda t: "",
        lambda t: " " + t,
    ],
)
def test_anything_but_the_exact_key_authenticates_nobody(owner, mangle):
    _, token = keys.apikey_create(user=owner, name="k")
    assert keys.apikey_authenticate(token=mangle(token)) is None


def test_revoked_expired_and_inactive_keys_authenticate_nobody(owner, member, outsider):
    revoked, revoked_token = keys.apikey_create(user=owner, name="r")
    keys.apikey_revoke(key=revoked, by=owner)
    expiring, expiring_token = keys.apikey_create(
        user=member, name="e", expires_at=timezone.now() + timedelta(days=1)
    )
    _, inactive_token = keys.apikey_create(user=outsider, name="i")
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now())
    outsider.is_active = False
    outsider.save()
    for token in (revoked_token, expiring_token, inactive_token):
        assert keys.apikey_authenticate(token=token) is None


def test_a_key_survives_a_secret_key_rotation_only_through_the_fallbacks(owner, settings):
    _, token = keys.apikey_create(user=owner, name="k")
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "n" * 60
    assert keys.apikey_authenticate(token=token) is None
    settings.SECRET_KEY_FALLBACKS = [old]
    assert keys.apikey_authenticate(token=token) is not None


def test_a_key_is_marked_used_at_most_once_a_minute(owner):
    key, _ = keys.apikey_create(user=owner, name="k")
    now = timezone.now()
    assert keys.apikey_mark_used(key=key, now=now) is True
    assert keys.apikey_mark_used(key=key, now=now + timedelta(seconds=59)) is False
    # A second process holding a stale copy does not write again either.
    stale = ApiKey.objects.get(pk=key.pk)
    stale.last_used_at = None
    assert keys.apikey_mark_used(key=stale, now=now + timedelta(seconds=30)) is False
    assert keys.apikey_mark_used(key=key, now=now + timedelta(seconds=61)) is True
    key.refresh_from_db()
    assert key.last_used_at == now + timedelta(seconds=61)


def test_only_the_owner_or_staff_revoke_and_the_first_time_stays(owner, member, make_user):
    key, _ = keys.apikey_create(user=owner, name="k")
    with pytest.raises(keys.KeyNotFound):
        keys.apikey_revoke(key=key, by=member)
    with pytest.raises(keys.KeyNotFound):
        keys.apikey_get(user=member, id=key.pk)
    first = keys.apikey_revoke(key=key, by=owner).revoked_at
    admin = make_user("admin@example.com", is_staff=True)
    assert keys.apikey_revoke(key=key, by=admin).revoked_at == first


def test_a_key_needs_a_name_and_a_future_expiry(owner):
    with pytest.raises(ValueError):
        keys.apikey_create(user=owner, name="  ")
    with pytest.raises(ValueError):
        keys.apikey_create(user=owner, name="k", expires_at=timezone.now())


# --- Settings → API keys ----------------------------------------------------------------------


def test_the_pages_need_a_signed_in_user(owner):
    key, _ = keys.apikey_create(user=owner, name="k")
    anonymous = Client()
    response = anonymous.get(LIST)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert anonymous.post(reverse("apikeys:revoke", args=[key.pk])).status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_creating_a_key_shows_it_once_and_never_again(owner):
    client = signed_in(owner)
    response = client.post(LIST, {"name": "scripts", "expires": "30"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = re.search(r"aip_[0-9a-f]{12}_[A-Za-z0-9]{40}", response.content.decode()).group(0)
    key = keys.apikey_authenticate(token=token)
    assert key.user == owner and key.name == "scripts"
    assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)
    listing = client.get(LIST).content.decode()
    assert key.prefix in listing and "scripts" in listing
    assert token not in listing and token.split("_", 2)[2] not in listing
    assert token not in all_columns(key)
    # Not in the session either (a database row): nothing kept it for a later page.
    assert token not in str(client.session.items())


def test_the_list_shows_my_keys_only(owner, member):
    mine, _ = keys.apikey_create(user=owner, name="owner-key")
    theirs, _ = keys.apikey_create(user=member, name="member-key")
    page = signed_in(owner).get(LIST).content.decode()
    assert mine.prefix in page and "owner-key" in page
    assert theirs.prefix not in page and "member-key" not in page


def test_a_blank_name_is_refused_with_the_form_again(owner):
    response = signed_in(owner).post(LIST, {"name": " ", "expires": ""})
    assert response.status_code == 400
    assert not ApiKey.objects.filter(user=owner).exists()


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_nobody_else_can_revoke_my_key(owner, member, outsider, who):
    key, token = keys.apikey_create(user=owner, name="k")
    other = {"member": member, "outsider": outsider}[who]
    response = signed_in(other).post(reverse("apikeys:revoke", args=[key.pk]))
    assert response.status_code == 404
    assert keys.apikey_authenticate(token=token) is not None


def test_i_can_revoke_my_key_with_a_post_and_its_csrf_token(owner):
    key, token = keys.apikey_create(user=owner, name="k")
    revoke = reverse("apikeys:revoke", args=[key.pk])
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(revoke).status_code == 405
    assert client.post(revoke).status_code == 403  # no CSRF token
    page = client.get(LIST).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(revoke, {"csrfmiddlewaretoken": csrf}, follow=True)
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    assert keys.apikey_authenticate(token=token) is None
    assert "Revoked" in client.get(LIST).content.decode()


def test_the_pages_have_no_inline_script_or_style(owner):
    client = signed_in(owner)
    keys.apikey_create(user=owner, name="k")
    for html in (
        client.get(LIST).content.decode(),
        client.post(LIST, {"name": "n", "expires": ""}).content.decode(),
    ):
        assert "style=" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert "<style" not in html


def test_the_keys_page_is_reached_from_the_sidebar_through_settings(owner):
    client = signed_in(owner)
    assert 'href="/settings/"' in client.get("/").content.decode()
    assert f'href="{LIST}"' in client.get("/settings/").content.decode()


# --- manage.py apikey -------------------------------------------------------------------------


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command("apikey", *args, stdout=out)
    return out.getvalue().splitlines()


def test_the_command_prints_a_working_key_as_its_last_line(owner):
    lines = run("create", "--user", "OWNER@example.com", "--name", "ci", "--expires-days", "7")
    token = lines[-1]
    assert TOKEN.match(token)
    key = keys.apikey_authenticate(token=token)
    assert key.user == owner and key.name == "ci"
    assert timedelta(days=6) < key.expires_at - timezone.now() <= timedelta(days=7)
    listing = "\n".join(run("list", "--user", "owner@example.com"))
    assert key.prefix in listing and "active" in listing and token not in listing
    assert "Revoked" in run("revoke", "--prefix", key.prefix)[-1]
    assert keys.apikey_authenticate(token=token) is None
    assert "revoked" in "\n".join(run("list", "--user", "owner@example.com"))


def test_the_command_refuses_what_cannot_work(owner):
    with pytest.raises(CommandError):
        run("create", "--user", "nobody@example.com", "--name", "x")
    with pytest.raises(CommandError):
        run("create", "--user", "owner@example.com", "--name", "x", "--expires-days", "0")
    with pytest.raises(CommandError):
        run("revoke", "--prefix", "000000000000")
    owner.is_active = False
    owner.save()
    with pytest.raises(CommandError):
        run("create", "--user", "owner@example.com", "--name", "x")


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_(make_user) -> Client:
    return signed_in(make_user("boss@example.com", is_staff=True))


def test_the_key_admin_lists_searches_and_revokes_but_never_shows_a_digest(owner, admin_client_):
    key, token = keys.apikey_create(user=owner, name="laptop")
    changelist = reverse("admin:gateway_apikey_changelist")
    page = admin_client_.get(changelist, {"q": key.prefix}).content.decode()
    assert key.prefix in page and "laptop" in page
    assert key.digest not in page
    change = admin_client_.get(reverse("admin:gateway_apikey_change", args=[key.pk]))
    assert change.status_code == 200 and key.digest not in change.content.decode()
    assert admin_client_.get(reverse("admin:gateway_apikey_add")).status_code == 403
    response = admin_client_.post(
        changelist, {"action": "revoke_selected", "_selected_action": [key.pk]}, follow=True
    )
    assert "Revoked 1 key." in response.content.decode()
    assert keys.apikey_authenticate(token=token) is None


def test_the_usage_admin_is_read_only_with_filters(owner, admin_client_):
    record = UsageRecord.objects.create(
        user=owner, source="api", model="m1", outcome="complete", prompt_tokens=3
    )
    changelist = reverse("admin:gateway_usagerecord_changelist")
    page = admin_client_.get(changelist, {"model": "m1", "outcome": "complete"})
    assert page.status_code == 200 and "m1" in page.content.decode()
    assert admin_client_.get(changelist, {"user__id__exact": owner.pk}).status_code == 200
    assert admin_client_.get(reverse("admin:gateway_usagerecord_add")).status_code == 403
    change = reverse("admin:gateway_usagerecord_change", args=[record.pk])
    assert admin_client_.get(change).status_code == 200  # view only
    admin_client_.post(change, {"model": "changed"})
    record.refresh_from_db()
    assert record.model == "m1"
