"""The sessions page: a person sees where they are signed in (browser, address, last seen)
and signs one session out, or every other one; nobody can end someone else's session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from tests.accounts import policy_fixtures
from tests.accounts.mfa_fixtures import cookie_for

pytestmark = pytest.mark.django_db
no_rate_limits = policy_fixtures.no_rate_limits  # allauth's, off


def _seen_markers_delete() -> None:
    """Forget the last-seen markers (accounts/signin/sessions.py) of earlier tests' sessions. Only
    those: Django's RedisCache.clear() is a FLUSHDB, which would also empty the Celery queues,
    channel messages and telemetry of the other xdist workers and of other runs."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        backend.clear()  # a cache of this process alone
        return
    client = backend._cache.get_client(write=True)
    for key in client.scan_iter(match=backend.make_key("accounts.usersession.seen:") + "*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def _no_seen_markers():
    _seen_markers_delete()  # last-seen markers of an earlier test's sessions (ids repeat)


def test_the_page_lists_each_session_with_its_browser_and_address(member):
    laptop, _ = cookie_for(member, user_agent="Firefox on the laptop")
    cookie_for(member, user_agent="Safari on the phone")
    page = laptop.get("/accounts/sessions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Firefox on the laptop" in html and "Safari on the phone" in html
    assert "127.0.0.1" in html
    assert html.count("This browser") == 1
    assert UserSession.objects.filter(user=member).count() == 2


def test_signing_out_another_session_ends_it_and_keeps_this_one(member):
    laptop, _ = cookie_for(member)
    phone, phone_key = cookie_for(member)
    target = UserSession.objects.get(session_key=phone_key)
    response = laptop.post(f"/accounts/sessions/{target.pk}/end")
    assert response.status_code == 302
    assert not Session.objects.filter(session_key=phone_key).exists()
    assert not UserSession.objects.filter(pk=target.pk).exists()
    assert phone.get("/").status_code == 302  # signed out: to the sign-in page
    assert laptop.get("/").status_code == 200


def test_signing_out_this_session_signs_this_browser_out(member):
    laptop, laptop_key = cookie_for(member)
    mine = UserSession.objects.get(session_key=laptop_key)
    response = laptop.post(f"/accounts/sessions/{mine.pk}/end")
    assert response.headers["Location"] == "/accounts/login/"
    assert not Session.objects.filter(session_key=laptop_key).exists()


def test_someone_elses_session_is_not_found_and_goes_on(member, outsider):
    _, their_key = cookie_for(outsider)
    theirs = UserSession.objects.get(session_key=their_key)
    mine, _ = cookie_for(member)
    assert mine.post(f"/accounts/sessions/{theirs.pk}/end").status_code == 404
    assert mine.post("/accounts/sessions/987654/end").status_code == 404
    assert Session.objects.filter(session_key=their_key).exists()


def test_ending_a_session_takes_a_post(member):
    laptop, laptop_key = cookie_for(member)
    mine = UserSession.objects.get(session_key=laptop_key)
    assert laptop.get(f"/accounts/sessions/{mine.pk}/end").status_code == 405
    assert Session.objects.filter(session_key=laptop_key).exists()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.post("/accounts/sessions/1/end")
    assert response.status_code == 302
    assert "/accounts/login/" in response.headers["Location"]


def test_last_seen_is_recorded_at_most_once_an_interval(member, settings):
    settings.AIPORTAL_SESSION_SEEN_INTERVAL = 60
    laptop, key = cookie_for(member)
    long_ago = timezone.now() - timedelta(hours=3)
    UserSession.objects.filter(session_key=key).update(last_seen_at=long_ago)
    _seen_markers_delete()
    laptop.get("/accounts/sessions/")
    seen = UserSession.objects.get(session_key=key).last_seen_at
    assert seen > long_ago + timedelta(hours=2)
    # Within the interval the row is not written again.
    UserSession.objects.filter(session_key=key).update(last_seen_at=long_ago)
    laptop.get("/accounts/sessions/")
    assert UserSession.objects.get(session_key=key).last_seen_at == long_ago
