"""The dataset pages in Chromium: empty states are a plain line where they are, the source
form shows only the picked kind's fields, Remove is not drawn as the main action, and the
allowed regions are picked from the regions the workers are in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from datasets.models import Dataset
from datasets.services import dataset_create
from tests.chat.test_browser import sign_in
from tests.pages.shots import shots

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def _style(locator, prop: str) -> str:
    return locator.evaluate(f"e => getComputedStyle(e)['{prop}']")


def test_a_new_dataset_page_reads_plainly_and_its_source_form_follows_the_kind(
    page, daphne_url, owner
):
    dataset = dataset_create(user=owner, name="Handbook")
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/datasets/{dataset.pk}/")
    shots(page, "dataset-empty")
    for empty in page.locator(".empty").all():
        assert float(_style(empty, "marginTop").removesuffix("px")) < 20
        assert _style(empty, "listStyleType") == "none" or empty.evaluate("e => e.tagName") == "P"

    form = page.locator("#source-form")
    expect(form.locator("#urls")).to_be_visible()
    expect(form.locator("#url")).to_be_hidden()
    form.locator("#kind").select_option("sitemap")
    expect(form.locator("#url")).to_be_visible()
    expect(form.locator("#urls")).to_be_hidden()
    form.locator("#kind").select_option("urls")
    form.locator("#urls").fill("https://example.com/handbook")
    form.locator("button[type=submit]").click()
    remove = page.locator("#sources").get_by_role("button", name="Remove")
    expect(remove).to_be_visible()
    shots(page, "dataset-source")
    add = page.locator("#source-form button[type=submit]")
    assert _style(remove, "backgroundColor") != _style(add, "backgroundColor")
    assert _style(remove, "backgroundColor") == "rgba(0, 0, 0, 0)"  # outlined, in red
    assert _style(remove, "color") == _style(remove, "borderTopColor")


def test_allowed_regions_are_picked_from_the_workers_regions(page, daphne_url, owner):
    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/datasets/")
    shots(page, "datasets-list")
    regions = page.locator("#allowed-regions")
    regions.get_by_role("checkbox", name="test-a").check()  # the emulator's region
    page.fill("#id_name", "Residency")
    page.click("#dataset-create button[type=submit]")
    expect(page).to_have_url(re.compile(r"/datasets/\d+/$"))
    assert Dataset.objects.get(name="Residency").allowed_regions == "test-a"
