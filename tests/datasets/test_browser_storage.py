"""The upload form's quota error and the folder-source form, in headless Chromium against a
real Daphne: a person sees the room left, an upload that does not fit says so on the page,
and the folder form offers only the roots they may use. Screenshots of each, desktop and
phone, light and dark, into $AIPORTAL_TEST_SCREENSHOTS when it names a folder, for a person
to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests.chat.test_browser import sign_in
from tests.conftest import _database_url, start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SHOTS = os.environ.get("AIPORTAL_TEST_SCREENSHOTS")  # a folder: look at the pages by hand
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


@pytest.fixture
def orm_beside_playwright(chromium, monkeypatch) -> None:
    """Asked for first: Playwright's loop runs in this thread, the ORM calls are plain sync."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser-storage")
    (folder / "docs").mkdir()
    (folder / "ops").mkdir()
    return folder


@pytest.fixture
def datasets_dir(settings, module_dir) -> Path:
    """The module's uploads folder, the one its Daphne reads (this replaces the conftest's
    folder per test). The tests flush the database between them, and the ids keep growing, so
    no upload's folder is found again by a later test."""
    settings.AIPORTAL_DATASETS_DIR = module_dir / "datasets"
    return settings.AIPORTAL_DATASETS_DIR


@pytest.fixture(scope="module")
def app_url(django_db_setup, django_db_blocker, module_dir, emulator_url) -> Iterator[str]:
    # One Daphne for the module's four sizes and schemes: each start is a Django boot, seconds
    # of CPU on two busy cores, and nothing here changes what the server holds (the quota
    # refuses the upload: no file is stored).
    with django_db_blocker.unblock():
        database_url = _database_url()
    process, url = start_daphne(
        {
            "DATABASE_URL": database_url,
            "AIPORTAL_WORKERS": f"{emulator_url}@test-a",
            "AIPORTAL_DATASETS_DIR": str(module_dir / "datasets"),
            "AIPORTAL_UPLOAD_QUOTA_DATASET_BYTES": "1000",
            "AIPORTAL_DATASET_ROOTS": f"docs={module_dir / 'docs'},ops={module_dir / 'ops'}",
            "AIPORTAL_DATASET_ROOT_DOCS_GROUPS": "writers",
        }
    )
    yield url
    process.stop()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
def test_the_quota_error_and_the_folder_form_read_well(
    orm_beside_playwright, chromium, app_url, owner, dataset, tmp_path, scheme, size
):
    owner.groups.add(Group.objects.create(name="writers"))
    width, height = SIZES[size]
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.emulate_media(color_scheme=scheme)
    try:
        sign_in(page, app_url, owner.email)
        page.goto(f"{app_url}/datasets/{dataset.pk}/")
        expect(page.locator("#upload-room")).to_have_text("Room left for uploads: 1000\xa0bytes")
        expect(page.locator("#root option")).to_have_count(1)
        expect(page.locator("#root option")).to_have_text("docs")
        big = tmp_path / "big.txt"
        big.write_bytes(b"x" * 1500)
        page.set_input_files("#files", str(big))
        page.click("#upload-form button[type=submit]")
        error = page.locator(".flash .error")
        expect(error).to_contain_text("Nothing was uploaded. big.txt does not fit")
        expect(error).to_contain_text("has 1000\xa0bytes left of its 1000\xa0bytes storage quota")
        if SHOTS:
            page.locator("#source-form").scroll_into_view_if_needed()
            page.screenshot(path=f"{SHOTS}/folder-form-{size}-{scheme}.png")
            page.locator(".flash .error").scroll_into_view_if_needed()
            page.screenshot(path=f"{SHOTS}/quota-{size}-{scheme}.png")
    finally:
        context.close()
