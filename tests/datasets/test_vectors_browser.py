"""The admin's refill progress shows "embedded n of m" beside the other counts, in a real
browser under the real CSP (screenshots when AIPORTAL_TEST_SCREENSHOTS is set)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from datasets.models import RefillJob
from tests.conftest import PASSWORD
from tests.pages.shots import shots

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_the_refill_panel_counts_the_chunks_embedded(page, daphne_url, make_user, dataset):
    admin = make_user("admin@example.com", is_staff=True)
    RefillJob.objects.create(
        dataset=dataset,
        status=RefillJob.Status.FAILED,
        progress=0.62,
        seen=40,
        added=12,
        reused=28,
        embedded=96,
        to_embed=310,
        message="The embedding workers failed (region_unavailable): No worker for "
        "'aiportal-emulator' is available in your allowed regions (eu-north). "
        "The active version is kept.",
    )
    change = f"/admin/datasets/dataset/{dataset.pk}/change/"
    page.goto(f"{daphne_url}/admin/login/?next={change}")
    page.fill("#id_login", admin.email)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{daphne_url}{change}")
    counts = page.locator("#dataset-job .dataset-job-counts")
    expect(counts.locator('[data-count="embedded"]')).to_have_text("96")
    expect(counts.locator('[data-count="to_embed"]')).to_have_text("310")
    expect(counts).to_contain_text("embedded 96 of 310")
    expect(page.locator("#dataset-job .dataset-job-message")).to_contain_text("active version")
    page.locator("#dataset-job").scroll_into_view_if_needed()
    shots(page, "vectors-refill-panel")
