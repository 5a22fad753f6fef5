"""A dataset's sources in the admin, in a real browser under the real CSP: each source shows
the fields of its kind (no raw JSON), and changing the kind shows the other kind's."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from datasets.models import Source
from datasets.sources import source_config_check
from tests.accounts.test_admin_browser import admin_sign_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_source_shows_the_fields_of_its_kind(page, daphne_url, make_user, dataset):
    admin = make_user("admin@example.com", is_staff=True)
    Source.objects.create(
        dataset=dataset,
        kind="urls",
        config=source_config_check(kind="urls", config={"urls": ["https://example.org/a"]}),
    )
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if m.type == "error" and "status of 404" not in m.text else None
        ),
    )
    admin_sign_in(page, daphne_url, admin.email, f"/admin/datasets/dataset/{dataset.pk}/change/")
    source = page.locator("#sources-0")
    expect(source.locator("#id_sources-0-urls")).to_have_value("https://example.org/a")
    expect(source.locator(".field-urls")).to_be_visible()
    for hidden in ("sitemap_url", "folder_root", "folder_path", "files"):
        expect(source.locator(f".field-{hidden}")).to_be_hidden()
    expect(page.locator("textarea[name='sources-0-config']")).to_have_count(0)
    source.locator(".field-urls").scroll_into_view_if_needed()
    shoot(page, "dataset-source")

    source.locator("#id_sources-0-kind").select_option("sitemap")
    expect(source.locator(".field-sitemap_url")).to_be_visible()
    expect(source.locator(".field-urls")).to_be_hidden()
    source.locator("#id_sources-0-sitemap_url").fill("https://example.org/sitemap.xml")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    (saved,) = dataset.sources.all()
    assert (saved.kind, saved.config["url"]) == ("sitemap", "https://example.org/sitemap.xml")
    # A source added with "Add another" starts with its kind's fields only, too.
    page.locator("#sources-group .add-row a").click()
    added = page.locator("#sources-1")
    added.locator("#id_sources-1-kind").select_option("folder")
    expect(added.locator(".field-folder_root")).to_be_visible()
    expect(added.locator(".field-urls")).to_be_hidden()
    assert problems == []
