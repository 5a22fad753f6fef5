"""A cited passage says where in its document it is: the title and the heading path of the
chunk, as a small line in the chat's passage panel, in headless Chromium against a real
Daphne. Screenshots of it, desktop and phone, light and dark, into
$AIPORTAL_TEST_SCREENSHOTS when it names a folder, for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from datasets.services.chunking import CONTEXT_SEPARATOR
from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne
from tests.datasets.test_browser_datasets import in_thread
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}

GUIDE = """# Field guide

Read this before going out to the marshes.

## Waders

### Herons

Herons stand still in the shallows and strike fast at passing fish.

## Swimmers

Ducks paddle on the pond all day.
"""


@pytest.fixture
def orm_beside_playwright(chromium, monkeypatch) -> None:
    """Asked for first: Playwright's loop runs in this thread, the ORM calls are plain sync."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def module_datasets_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chunk-context") / "datasets"


@pytest.fixture
def datasets_dir(settings, module_datasets_dir) -> Path:
    """The module's uploads folder, the one its Daphne reads (this replaces the conftest's
    folder per test). The tests flush the database between them, and the ids keep growing, so
    no upload's folder is found again by a later test."""
    settings.AIPORTAL_DATASETS_DIR = module_datasets_dir
    return module_datasets_dir


@pytest.fixture(scope="module")
def app_url(django_db_setup, django_db_blocker, module_datasets_dir, emulator_url) -> Iterator[str]:
    # One Daphne for the module's four sizes and schemes: each start is a Django boot, seconds
    # of CPU on two busy cores, and nothing here changes what the server holds.
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_DATASETS_DIR": str(module_datasets_dir),
            "AIPORTAL_CHAT_TITLES": "false",
        }
    )
    yield url
    process.stop()


def herons_cited(page, app_url, owner, dataset):
    """Sign in, ask about herons with the dataset picked, open the answer's first citation:
    the passage panel, showing the herons' passage."""
    sign_in(page, app_url, owner.email)
    page.locator("#dataset-picker summary").click()
    page.get_by_label(dataset.name).check()
    box = page.get_by_role("textbox", name="Message")
    # The emulator quotes the question in its answer: "[1]" in it is a citation marker.
    box.fill("What does [1] say about herons striking fish in the shallows?")
    box.press("Enter")
    answer = page.locator(".message.assistant")
    expect(answer).to_have_attribute("data-status", "complete")
    answer.locator("a.citation").first.click()
    panel = page.locator("#passage-panel")
    expect(panel.locator(".passage-text")).to_contain_text("Herons stand still")
    return panel


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_a_cited_passage_shows_its_title_and_heading_path(
    orm_beside_playwright,
    chromium,
    app_url,
    owner,
    dataset,
    upload,
    refill_now,
    settings,
    scheme,
    size,
):
    # Small chunks: "## Waders" and its "### Herons" make one chunk, apart from the rest.
    settings.AIPORTAL_DATASET_CHUNK_TOKENS = 25
    settings.AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS = 0
    in_thread(upload, dataset=dataset, files={"guide.md": GUIDE})
    in_thread(refill_now, dataset=dataset)
    width, height = SIZES[size]
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.emulate_media(color_scheme=scheme)
    try:
        panel = herons_cited(page, app_url, owner, dataset)
        expect(panel.locator(".passage-title")).to_have_text("Field guide")
        where = panel.locator(".passage-context")
        expect(where).to_be_visible()
        expect(where).to_have_text(CONTEXT_SEPARATOR.join(["Field guide", "Waders"]))
        expect(panel.locator(".passage-source")).to_have_text(f"{dataset.name} · upload:guide.md")
        if SHOTS:
            panel.scroll_into_view_if_needed()
            page.screenshot(path=f"{SHOTS}/passage-context-{size}-{scheme}.png")
    finally:
        context.close()


GUIDE_RST = """===========
Field guide
===========

Read this before going out to the marshes.

``Waders``
==========

:term:`Herons <heron>`
----------------------

Herons stand still in the shallows and strike fast at passing fish.

Swimmers
========

Ducks paddle on the pond all day.
"""


def test_a_passage_of_underlined_plain_text_shows_its_heading_path(
    orm_beside_playwright, chromium, app_url, owner, dataset, upload, refill_now, settings
):
    """reStructuredText saved as .txt (as Python's and Django's docs are): its underlined
    headings are the passage's path, as Markdown's are, and read without their markup."""
    settings.AIPORTAL_DATASET_CHUNK_TOKENS = 25
    settings.AIPORTAL_DATASET_CHUNK_OVERLAP_TOKENS = 0
    in_thread(upload, dataset=dataset, files={"guide.txt": GUIDE_RST})
    in_thread(refill_now, dataset=dataset)
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        panel = herons_cited(page, app_url, owner, dataset)
        expect(panel.locator(".passage-context")).to_have_text(
            CONTEXT_SEPARATOR.join(["guide.txt", "Field guide", "Waders", "Herons"])
        )
        if SHOTS:
            for size, (width, height) in SIZES.items():
                resize(page, {"width": width, "height": height})
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    panel.scroll_into_view_if_needed()
                    page.screenshot(path=f"{SHOTS}/passage-context-rst-{size}-{scheme}.png")
    finally:
        context.close()
