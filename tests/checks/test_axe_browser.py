"""axe-core (node_modules/axe-core, a devDependency) run in Chromium on the main pages, light
and dark, desktop and the chat page on a phone: any serious or critical violation fails, and
the failure lists every one of them, page by page (rule, impact, the elements, axe's advice)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.checks.pages import DESKTOP, PHONE, THEMES, new_context, site, walk
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

RUN_AXE = """async () => {
    const result = await axe.run(document, {resultTypes: ["violations"]});
    return result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({
            rule: v.id,
            impact: v.impact,
            help: v.help,
            nodes: v.nodes.map((n) => ({
                target: n.target.join(" "),
                summary: (n.failureSummary || "").replace(/\\s+/g, " ").trim(),
            })),
        }));
}"""


def violations_of(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(RUN_AXE)


def report(found: dict[str, list[dict]]) -> str:
    """Readable: one block per page, one line per rule, one indented line per element."""
    lines = []
    for where, violations in found.items():
        lines.append(f"{where}:")
        for v in violations:
            lines.append(f"  [{v['impact']}] {v['rule']}: {v['help']}")
            for node in v["nodes"][:8]:
                lines.append(f"      {node['target']}  -- {node['summary'][:240]}")
            if len(v["nodes"]) > 8:
                lines.append(f"      … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def test_axe_core_is_installed():
    assert AXE.is_file(), "axe-core is missing from node_modules: run the tests with ./dev test"


@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize("theme", THEMES)
def test_the_main_pages_have_no_serious_accessibility_violations(
    page, chromium, daphne_url, owner, theme
):
    # ``page`` first: it lets the ORM run beside Playwright's loop (tests/conftest.py); the
    # pages are opened in contexts of their own, with the theme and viewport of each walk.
    checks = site(owner)
    found: dict[str, list[dict]] = {}
    walks = [(DESKTOP, checks), (PHONE, [c for c in checks if c.name.startswith("chat")])]
    for viewport, pages in walks:
        for check, tab in walk(
            chromium, pages, theme=theme, viewport=viewport, base_url=daphne_url, email=owner.email
        ):
            violations = violations_of(tab)
            if violations:
                found[f"{check.name} ({theme}, {viewport['width']}x{viewport['height']})"] = (
                    violations
                )
    assert not found, "serious or critical axe-core violations:\n" + report(found)


def test_the_report_names_the_page_rule_and_element():
    """The failure message is what a person fixes from: it must say where and what."""
    text = report(
        {
            "sign-in (dark, 1440x900)": [
                {
                    "rule": "color-contrast",
                    "impact": "serious",
                    "help": "Elements must meet minimum color contrast ratio thresholds",
                    "nodes": [{"target": ".brand a", "summary": "Fix any of the following: x"}],
                }
            ]
        }
    )
    assert text.splitlines() == [
        "sign-in (dark, 1440x900):",
        "  [serious] color-contrast: Elements must meet minimum color contrast ratio thresholds",
        "      .brand a  -- Fix any of the following: x",
    ]


def test_a_page_with_a_serious_violation_is_caught(chromium, tmp_path):
    """The check itself can fail: an image without alt text and an unlabelled field."""
    context = chromium.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.set_content('<html lang="en"><title>t</title><img src="x.png"><input></html>')
        rules = {v["rule"] for v in violations_of(page)}
    finally:
        context.close()
    assert {"image-alt", "label"} <= rules


@pytest.mark.usefixtures("transactional_db")
def test_the_account_pages_flash_messages_are_a_list_inside_a_live_region(
    page, chromium, daphne_url, owner
):
    """templates/allauth/layouts/base.html, shared by allauth's pages: its messages were list
    items of a <ul role=status>, which is no list any more (axe: listitem, serious)."""
    context = new_context(chromium, theme="light", viewport=DESKTOP, base_url=daphne_url)
    try:
        tab = context.new_page()
        # Signed in straight onto an allauth page: "Successfully signed in as …" is shown on
        # the page the sign-in leads to (every page shows its messages), so it must be this one.
        tab.goto("/accounts/login/?next=/accounts/email/")
        tab.fill("#id_login", owner.email)
        tab.fill("#id_password", PASSWORD)
        tab.click("form button[type=submit]")
        expect(tab).to_have_url(re.compile(r"/accounts/email/$"))
        expect(tab.locator(".flash li")).to_contain_text("signed in")
        rules = {v["rule"] for v in violations_of(tab)}
        assert not rules & {"listitem", "list", "aria-allowed-role"}, rules
        # Still announced: the list sits in a live region.
        expect(tab.locator("[role=status] > ul.flash > li")).to_have_count(1)
    finally:
        context.close()
