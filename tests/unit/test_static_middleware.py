"""Static files are still served by WhiteNoise, now on the async path of the middleware."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import AsyncClient

from aiportal.middleware import StaticFilesMiddleware

pytestmark = pytest.mark.django_db


def test_the_middleware_can_run_on_the_event_loop():
    # A sync-only middleware would put every request (token streams too) through a thread.
    assert StaticFilesMiddleware.async_capable and StaticFilesMiddleware.sync_capable


async def test_a_static_file_is_served_with_its_long_cache_lifetime():
    response = await AsyncClient().get(static("chat/chat.js"))
    assert response.status_code == 200
    served = b"".join(response.streaming_content)  # a file, read as Django reads it
    assert served == Path(finders.find("chat/chat.js")).read_bytes()
    assert "immutable" in response["Cache-Control"]


async def test_a_missing_static_file_falls_through_to_the_site():
    response = await AsyncClient().get("/static/no/such/file.js")
    assert response.status_code == 404


async def test_other_paths_go_straight_to_the_site():
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
