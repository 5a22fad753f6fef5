"""Datasets as a person meets them, in headless Chromium against a real Daphne and a real
Celery worker sharing one uploads folder: make a dataset, upload (which refills), ask with it in
chat, open a citation; and a revoked grant leaving an open chat page without a reload."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from django.db import connection
from playwright.sync_api import expect

from datasets.models import Level
from datasets.services import dataset_create, grant_revoke, grant_set
from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

VACATION = b"Vacation policy. Every employee gets thirty days of zebrafish leave a year."
TRAVEL = b"Travel policy. Book trains for trips under six hours."


def in_thread(function, **kwargs):
    """Run a service in a thread of its own: this one runs Playwright's event loop, where
    the services' channel-layer publishing (async_to_sync) may not run."""
    result = []

    def run() -> None:
        try:
            result.append(function(**kwargs))
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert result, "the service failed (see the log above)"
    return result[0]


@pytest.fixture
def app_url(datasets_dir, emulator_url) -> Iterator[str]:
    """Daphne with this test's uploads folder: the one the Celery worker reads."""
    process, url = start_daphne(
        {
            "DATABASE_URL": _database_url(),
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_DATASETS_DIR": str(datasets_dir),
            "AIPORTAL_SAVE_INTERVAL_MS": "100",
            "AIPORTAL_CHAT_TITLES": "false",
        }
    )
    yield url
    process.stop()


def test_make_a_dataset_upload_refill_ask_and_open_a_citation(page, celery_worker, app_url, owner):
    sign_in(page, app_url, owner.email)
    page.get_by_role("link", name="Datasets").click()
    expect(page).to_have_url(f"{app_url}/datasets/")
    page.get_by_label("Name").fill("Handbook")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("h1")).to_have_text("Handbook")
    expect(page.locator("#my-level")).to_have_text("manage")

    page.set_input_files(
        "#files",
        [
            {"name": "vacation.txt", "mimeType": "text/plain", "buffer": VACATION},
            {"name": "travel.txt", "mimeType": "text/plain", "buffer": TRAVEL},
        ],
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    # The upload starts the refill: nobody has to press "Refill now".
    expect(page.locator(".flash")).to_contain_text("Uploaded vacation.txt, travel.txt")
    expect(page.locator(".flash")).to_contain_text("Reading them now")
    # The page follows the job (polling) and reloads once it succeeded.
    expect(page.locator("#documents")).to_contain_text("vacation.txt", timeout=60_000)
    expect(page.locator("#documents")).to_contain_text("travel.txt")
    expect(page.locator("tr.job").first).to_have_attribute("data-status", "succeeded")

    page.get_by_role("link", name="Back to chat").first.click()
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    page.locator("#dataset-picker summary").click()
    page.get_by_label("Handbook").check()
    expect(page.locator("#dataset-picker summary")).to_have_text("Datasets (1)")
    # The emulator quotes the question in its answer: "[1]" in it is a citation marker.
    box = page.get_by_role("textbox", name="Message")
    box.fill("What does [1] say about zebrafish leave?")
    box.press("Enter")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    link = answer.locator("a.citation").first
    expect(link).to_have_text("[1]")
    expect(link).to_have_attribute("title", "vacation.txt")
    link.click()
    panel = page.locator("#passage-panel")
    expect(panel).to_be_visible()
    expect(panel.locator(".passage-title")).to_have_text("vacation.txt")
    expect(panel.locator(".passage-text")).to_contain_text("thirty days of zebrafish leave")
    expect(panel.locator(".passage-source")).to_contain_text("Handbook · upload:vacation.txt")

    # After a reload the citations come from the saved answer.
    expect(page).to_have_url(re.compile(r"/c/\d+/$"))
    page.reload()
    expect(page.locator(".message.assistant a.citation").first).to_have_text("[1]")
    expect(page.locator("#dataset-picker summary")).to_have_text("Datasets (1)")


def test_a_revoked_grant_leaves_the_open_pages_picker_without_a_reload(
    page, app_url, owner, member
):
    dataset = in_thread(dataset_create, user=owner, name="Secret plans")
    kept = in_thread(dataset_create, user=owner, name="Public notes")
    grant = in_thread(grant_set, dataset=dataset, user=owner, level=Level.QUERY, for_user=member)
    in_thread(grant_set, dataset=kept, user=owner, level=Level.QUERY, for_user=member)
    sign_in(page, app_url, member.email)
    page.locator("#dataset-picker summary").click()
    page.get_by_label("Secret plans").check()
    expect(page.locator("#dataset-picker summary")).to_have_text("Datasets (1)")

    in_thread(grant_revoke, grant=grant, user=owner)
    expect(page.get_by_label("Secret plans")).to_have_count(0)
    expect(page.get_by_label("Public notes")).to_be_visible()
    expect(page.locator("#dataset-picker summary")).to_have_text("Datasets")
    expect(page.locator(".dataset-status")).to_have_text(
        "A dataset you had chosen is no longer available to you."
    )
    # A grant given while the page is open appears too.
    in_thread(grant_set, dataset=dataset, user=owner, level=Level.VIEW, for_user=member)
    again = in_thread(dataset_create, user=member, name="Mine")
    expect(page.get_by_label(again.name)).to_be_visible()
    expect(page.get_by_label("Secret plans")).to_have_count(0)  # view level: not searchable
