"""What a person sees of retrieval, in headless Chromium against a real Daphne whose searches
are reranked by the emulated worker: the dataset page's "Try a query" box (ranked passages,
scores, the method, hostile text shown as text), and an answer's sources, each opening on
the passage the answer was given, after a reload and on a shared link too."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from chat import services as chat_services
from chat.models import Conversation
from datasets.services import dataset_create
from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne
from tests.datasets.test_browser_datasets import in_thread
from tests.pages.shots import shots

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

HOSTILE = '<img src=x onerror="window.hacked=1"> zebrafish <script>window.hacked=2</script>'
FILES = {
    "long.txt": "Zebrafish zebrafish zebrafish. Leave the tank. Days and days of filters, "
    "pumps, gravel, lights, heaters, nets, food, water tests and other aquarium chores.",
    "leave.md": "# Handbook\n\n## Leave\n\nZebrafish leave: thirty days a year.",
    "hostile.txt": HOSTILE,
}


@pytest.fixture
def app_url(emulator_url) -> Iterator[str]:
    process, url = start_daphne(
        {
            "DATABASE_URL": _database_url(),
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_RERANK_MODEL": "aiportal-emulator",
            "AIPORTAL_SAVE_INTERVAL_MS": "100",
            "AIPORTAL_CHAT_TITLES": "false",
        }
    )
    yield url
    process.stop()


@pytest.fixture
def handbook(owner, upload, refill_now):
    def fill():
        dataset = dataset_create(user=owner, name="Team handbook")
        upload(dataset, FILES)
        refill_now(dataset)
        return dataset

    # In a thread of its own: this one runs Playwright's loop (tests/datasets/
    # test_browser_datasets.py, ``in_thread``).
    return in_thread(fill)


def test_try_a_query_then_an_answer_s_sources_open_on_their_passages(
    page, app_url, owner, handbook
):
    sign_in(page, app_url, owner.email)
    page.goto(f"{app_url}/datasets/{handbook.pk}/")
    page.get_by_role("searchbox", name="A question to search this dataset for").fill(
        "zebrafish leave days"
    )
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"\?q=zebrafish\+leave\+days#try$"))
    expect(page.locator("#try-summary")).to_contain_text("ranked by: Reranked")
    results = page.locator("#try-results > li")
    # The reranker prefers the short passage on topic to the one that repeats the words.
    expect(results.first.locator(".try-passage")).to_contain_text("Zebrafish leave: thirty days")
    expect(results.first.locator(".try-where")).to_contain_text("upload:leave.md")
    expect(results.first.locator(".try-score")).to_contain_text(re.compile(r"0\.\d{4}"))
    expect(results).to_have_count(3)

    page.get_by_role("searchbox").fill("zebrafish script")
    page.get_by_role("button", name="Search").click()
    hostile = page.locator("#try-results .try-passage", has_text="onerror")
    expect(hostile).to_have_text(HOSTILE)
    assert page.evaluate("window.hacked") is None
    page.get_by_role("searchbox").fill("zebrafish leave days")
    page.get_by_role("button", name="Search").click()
    page.locator("#try").scroll_into_view_if_needed()
    shots(page, "datasets-try-query")

    # In chat (one test with the above: a Daphne and a refill are the cost of each).
    page.goto(f"{app_url}/")
    expect(page.locator("#socket-status")).to_have_attribute("data-state", "connected")
    page.locator("#dataset-picker summary").click()
    page.get_by_label("Team handbook").check()
    box = page.get_by_role("textbox", name="Message")
    box.fill("How many days of zebrafish leave do I get?")
    box.press("Enter")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    sources = answer.get_by_role("region", name="Sources of this answer")
    first = sources.locator("details.source").first
    expect(first.locator("summary")).to_have_text("Handbook · Team handbook")
    passage = first.locator(".source-passage")
    expect(passage).to_be_hidden()
    first.locator("summary").click()
    expect(passage).to_contain_text("Zebrafish leave: thirty days a year")
    expect(first.locator(".source-where")).to_contain_text("upload:leave.md · ")
    shots(page, "chat-sources", prepare=lambda: passage.scroll_into_view_if_needed())

    page.reload()
    first = page.locator(".message.assistant details.source").first
    expect(first.locator("summary")).to_contain_text(" · Team handbook")
    first.locator("summary").click()
    expect(first.locator(".source-passage")).to_contain_text("thirty days a year")
    hostile = page.locator(".message.assistant details.source", has_text="hostile.txt")
    if hostile.count():
        hostile.locator("summary").click()
        expect(hostile.locator(".source-passage")).to_have_text(HOSTILE)
    assert page.evaluate("window.hacked") is None

    conversation = Conversation.objects.get(owner=owner)
    token = in_thread(chat_services.conversation_share_create, user=owner, id=conversation.pk)
    page.goto(f"{app_url}/s/{token}/")
    shared = page.locator(".message.assistant details.source").first
    expect(shared.locator("summary")).to_contain_text(" · Team handbook")
    shared.locator("summary").click()
    expect(shared.locator(".source-passage")).to_contain_text("thirty days a year")
    shots(page, "chat-sources-shared")
