# ruff: noqa: F811 -- the fixtures imported from data_fixtures are parameters here
"""What people see of retention, in Chromium: the share page of a purged conversation says it
is gone, "Your data" says how long conversations are kept, and an admin places a legal hold
and sets the defaults.
Screenshots go to AIPORTAL_TEST_SCREENSHOTS when it is set."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import LegalHold
from retention.services import retention_purge
from tests.accounts.data_fixtures import staff  # noqa: F401
from tests.accounts.test_admin_browser import admin_sign_in
from tests.chat.test_browser import sign_in
from tests.pages.shots import shots
from tests.retention.conftest import group_with, set_defaults, shared_old_conversation

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_a_gone_link_the_data_page_and_the_admins_pages(page, daphne_url, owner, staff):
    set_defaults(conversations=30)
    group_with("Sales", owner, conversations=7)
    _conversation, token = shared_old_conversation(owner, days_idle=8)
    retention_purge()
    response = page.goto(f"{daphne_url}/s/{token}/")
    assert response.status == 410
    expect(page.get_by_role("heading", name="This conversation is gone")).to_be_visible()
    shots(page, "share-gone")

    sign_in(page, daphne_url, owner.email)
    page.goto(f"{daphne_url}/settings/data/")
    expect(page.locator("[data-kept-notice]")).to_have_text(
        "Your conversations are kept for 7 days after their last message, then deleted with "
        "their attachments and share links."
    )
    shots(page, "data-retention")

    # One test, one flush of the database: the admin's part follows as another person.
    page.context.clear_cookies()
    admin_sign_in(page, daphne_url, staff.email, "/admin/accounts/legalhold/add/")
    # The person is found by email in the admin's autocomplete (select2).
    page.click(".field-user .select2-selection")
    page.fill(".select2-search__field", "owner@")
    page.click(".select2-results__option >> text=owner@example.com")
    page.fill("#id_reason", "Matter 2026-114: litigation hold")
    shots(page, "admin-legal-hold-add")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_be_visible()
    assert LegalHold.objects.get().placed_by_id == staff.pk
    shots(page, "admin-legal-holds")

    page.goto(f"{daphne_url}/admin/retention/retentiondefaults/1/change/")
    page.fill("#id_conversations_days", "365")
    page.fill("#id_audit_days", "2555")
    shots(page, "admin-retention-defaults")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_be_visible()
    retention_purge()
    page.goto(f"{daphne_url}/admin/retention/retentionrun/")
    shots(page, "admin-retention-runs")
