"""The embedded default (no REDIS_URL: Celery runs tasks eagerly) in Chromium: an upload
starts a refill, the page comes back at once with the refill under way, and follows it live
to the end, as it does with a Celery worker."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from datasets.services import dataset_create
from tests.chat.test_browser import sign_in
from tests.conftest import Process, _database_url, free_port
from tests.pages.shots import shots
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]
DELAY_S = 1.5  # before each document: two documents take 3 s at least


@pytest.fixture
def eager_url(tmp_path, emulator_url) -> Iterator[str]:
    port = free_port()
    process = Process(
        [
            sys.executable,
            "-m",
            "tests.pages.eager_serve",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "aiportal.asgi:application",
        ],
        env={
            **os.environ,
            "REDIS_URL": "",  # the embedded default: eager Celery, in-memory channel layer
            "DATABASE_URL": _database_url(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_DATASETS_DIR": str(tmp_path / "datasets"),
            "AIPORTAL_TEST_DOCUMENT_DELAY_S": str(DELAY_S),
            "AIPORTAL_CHAT_TITLES": "false",
        },
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_for_http(f"{url}/healthz")
    yield url
    process.stop()


def test_an_upload_returns_at_once_and_its_refill_is_followed_live(page, eager_url, owner):
    dataset = dataset_create(user=owner, name="Handbook")
    sign_in(page, eager_url, owner.email)
    page.goto(f"{eager_url}/datasets/{dataset.pk}/")
    page.set_input_files(
        "#files",
        [
            {"name": "vacation.txt", "mimeType": "text/plain", "buffer": b"Zebrafish leave."},
            {"name": "travel.txt", "mimeType": "text/plain", "buffer": b"Take the train."},
        ],
    )
    started = time.monotonic()
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Reading them now")
    assert time.monotonic() - started < 2 * DELAY_S  # not held until the refill is done
    job = page.locator("tr.job").first
    assert job.get_attribute("data-status") in ("queued", "running")
    shots(page, "upload-refilling")
    # On a phone the refills table scrolls sideways; the page itself stays phone-wide.
    resize(page, {"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert job.locator(".job-status").bounding_box()["width"] > 30  # words, not a letter a line
    resize(page, {"width": 1280, "height": 900})
    # Followed without a reload by hand: the page reloads itself once it succeeded.
    expect(page.locator("#documents")).to_contain_text("vacation.txt", timeout=30_000)
    expect(page.locator("#documents")).to_contain_text("travel.txt")
    expect(page.locator("tr.job").first).to_have_attribute("data-status", "succeeded")
