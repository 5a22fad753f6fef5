"""An admin makes a SCIM token in the admin, sees it once, the identity provider uses it,
and the admin revokes it: the next request is a 401. Screenshots go to
AIPORTAL_TEST_SCREENSHOTS when it is set."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from scim.models import ScimToken
from tests.accounts.test_admin_browser import admin_sign_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_an_admin_creates_a_token_shown_once_and_revokes_it(page, daphne_url, make_user):
    admin = make_user("admin@example.com", is_staff=True)
    admin_sign_in(page, daphne_url, admin.email, "/admin/scim/scimtoken/add/")
    page.fill("#id_name", "Entra ID")
    shoot(page, "scim-token-add")
    page.click("input[name=_save]")
    token = page.locator("#scim-token").input_value()
    assert token.startswith("scim_")
    expect(page.locator("#scim-url")).to_have_value(f"{daphne_url}/scim/v2")
    shoot(page, "scim-token-created")
    row = ScimToken.objects.get()
    assert row.created_by == admin and token not in row.digest

    config = f"{daphne_url}/scim/v2/ServiceProviderConfig"
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(config, headers=auth).status_code == 200

    page.goto(f"{daphne_url}/admin/scim/scimtoken/")
    expect(page.locator("#result_list")).to_contain_text(row.display)
    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", "revoke_selected")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Revoked 1 token.")
    shoot(page, "scim-token-list")
    assert httpx.get(config, headers=auth).status_code == 401
    # The token is never shown again, on the list or the token's own page.
    page.goto(f"{daphne_url}/admin/scim/scimtoken/{row.pk}/change/")
    assert token not in page.content()
