"""The /v1 fast path: keys authenticated from each process's cache without going stale, and
the lean handler that serves /v1 without the site's middleware. Against a real Daphne."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from aiportal.api_handler import is_api_path
from gateway.models import ApiKey
from tests.gateway.api_support import (
    ApiServer,
    bearer,
    fast_passwords,
    key_for,
    wait_until,
)

pytestmark = pytest.mark.django_db(
    transaction=True, available_apps=["accounts", "gateway", "django.contrib.sessions"]
)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    fast_passwords(settings)


def models(api: ApiServer, token: str) -> httpx.Response:
    return httpx.get(f"{api.v1}/models", headers=bearer(token), timeout=20)


def test_a_cached_key_stops_working_the_moment_its_user_is_deactivated(api, owner):
    token = key_for(owner)
    for _ in range(3):  # seen, and cached by the web process
        assert models(api, token).status_code == 200
    owner.is_active = False
    owner.save()
    assert models(api, token).status_code == 401


def test_a_cached_key_deleted_in_the_admin_stops_working_at_once(api, owner):
    token = key_for(owner)
    assert models(api, token).status_code == 200
    ApiKey.objects.get(user=owner).delete()
    assert models(api, token).status_code == 401


def test_a_cached_key_stops_working_when_it_expires(api, owner):
    token = key_for(owner, expires_in=timedelta(seconds=2))
    assert models(api, token).status_code == 200
    expires_at = ApiKey.objects.get(user=owner).expires_at
    wait_until(lambda: timezone.now() > expires_at, what="the key's expiry")
    assert models(api, token).status_code == 401


def test_a_forged_secret_is_refused_even_for_a_cached_prefix(api, owner):
    token = key_for(owner)
    assert models(api, token).status_code == 200
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert models(api, forged).status_code == 401
    assert models(api, token).status_code == 200


def test_a_sign_in_does_not_disturb_a_working_key(api, owner):
    token = key_for(owner)
    assert models(api, token).status_code == 200
    owner.last_login = timezone.now()
    owner.save(update_fields=["last_login"])
    assert models(api, token).status_code == 200


def test_api_answers_carry_nosniff_and_none_of_the_sites_cookies(api, owner):
    response = models(api, key_for(owner))
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "set-cookie" not in response.headers


def test_the_api_refuses_a_host_outside_allowed_hosts(api, owner):
    token = key_for(owner)
    response = httpx.get(
        f"{api.v1}/models", headers={**bearer(token), "Host": "evil.example"}, timeout=20
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "lean"),
    [
        ("/v1/chat/completions", True),
        ("/v1/models", True),
        ("/v1", False),
        ("//v1/models", False),
        ("/V1/models", False),
        ("/v10/models", False),
        ("/static/v1/", False),
        ("/admin/", False),
    ],
)
def test_only_paths_under_v1_take_the_lean_handler(path, lean):
    assert is_api_path(path) is lean
