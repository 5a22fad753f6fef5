"""The /v1 fast path: keys authenticated from each process's cache without going stale, and
the lean handler that serves /v1 without the site's middleware. Against a real Daphne."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from common.api_paths import is_api_path
from gateway.keys import apikey_revoke
from gateway.models import ApiKey
from gateway.usage import BATCH_SECONDS
from tests.gateway.api_support import (
    FAST,
    ApiServer,
    bearer,
    chat,
    emulator_state,
    fast_passwords,
    key_for,
    usage_settled,
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


def stream(api: ApiServer, token: str, body=None) -> httpx.Response:
    body = body if body is not None else chat(stream=True, max_tokens=3)
    return httpx.post(f"{api.v1}/chat/completions", json=body, headers=bearer(token), timeout=20)


def test_a_key_revoked_since_the_process_last_looked_reaches_no_worker(api, owner):
    """The web process checks a cached key under the access version it last read, with no
    round trip first; admission confirms that version before anything goes upstream, and
    the revocation (which changed it) turns the request into a 401 there."""
    token = key_for(owner)
    # Creating the key changed the version: the first request learns the new one, the
    # second is served from the cache under it, as the process knows it now.
    for _ in range(2):
        assert stream(api, token).status_code == 200
    usage_settled(owner, 2)
    started = emulator_state(api.workers[FAST])["started"]

    apikey_revoke(key=ApiKey.objects.get(user=owner), by=owner)
    response = stream(api, token)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert emulator_state(api.workers[FAST])["started"] == started
    time.sleep(BATCH_SECONDS * 3)  # a usage record would have been written by now
    usage_settled(owner, 2)  # the turned-back attempt is not a request of its own


def test_a_revoked_key_gets_401_even_for_a_request_refused_before_admission(api, owner):
    """An answer made without admission (here a 400) is confirmed before it leaves: the
    holder of a revoked key learns nothing but that the key is no longer good."""
    token = key_for(owner)
    for _ in range(2):  # cached under the version the process knows (see above)
        assert stream(api, token).status_code == 200
    apikey_revoke(key=ApiKey.objects.get(user=owner), by=owner)

    response = stream(api, token, body={"model": FAST, "messages": "not a list"})

    assert response.status_code == 401


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
