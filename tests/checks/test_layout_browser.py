"""Screenshots of the main pages at desktop (1440x900) and phone (390x844) size, light and
dark, saved under the test's tmp dir (and in AIPORTAL_SCREENSHOTS, if set, to look at), with
three checks that fail on what a person would see as broken:

- horizontal overflow: the page is wider than the window (a sideways scroll on a phone);
- overlapping controls: the header's controls, the composer, Send, Stop, the Datasets button
  and any open panel (the dataset picker and the system prompt are opened for the check)
  cover one another;
- text cut off in the header: a title, link or button there whose text is wider than its
  box (scrollWidth > clientWidth), ellipsis or not.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.checks.pages import DESKTOP, PHONE, THEMES, site, walk
from tests.pages.viewport import resize

pytestmark = pytest.mark.browser

MEASURE = """() => {
    const visible = (el) => {
        const box = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        // Wider than 1px: .visually-hidden labels are clipped to 1px on purpose.
        // A closed <details> keeps its content laid out (content-visibility), unseen.
        return box.width > 1 && box.height > 1 && style.visibility !== "hidden"
            && style.display !== "none" && !el.closest("[hidden]")
            && !el.closest("details:not([open]) > :not(summary)");
    };
    const describe = (el) => {
        let text = el.tagName.toLowerCase();
        if (el.id) text += "#" + el.id;
        else if (el.classList.length) text += "." + [...el.classList].join(".");
        const label = (el.getAttribute("aria-label") || el.textContent || "").trim();
        return label ? `${text} "${label.replace(/\\s+/g, " ").slice(0, 40)}"` : text;
    };
    const problems = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth + 1) {
        const wide = [...document.body.querySelectorAll("*")]
            .filter((el) => visible(el) && el.getBoundingClientRect().right > root.clientWidth + 1)
            .filter((el) => !el.parentElement
                || el.parentElement.getBoundingClientRect().right <= root.clientWidth + 1)
            .slice(0, 5).map(describe);
        problems.push(`horizontal overflow: the page is ${root.scrollWidth}px wide in a `
            + `${root.clientWidth}px window (widest: ${wide.join(", ") || "?"})`);
    }
    const controls = [...document.querySelectorAll([
        "header button", "header select", "header summary", "header h1", "header a",
        ".chat-header > *", "#composer-input", "#send-button", "#stop-button",
        "#dataset-picker > summary",
        "details[open] > :not(summary)", "[role=dialog]", "#passage-panel",
    ].join(","))].filter(visible);
    const unique = [...new Set(controls)];
    for (let i = 0; i < unique.length; i++) {
        for (let j = i + 1; j < unique.length; j++) {
            const a = unique[i], b = unique[j];
            if (a.contains(b) || b.contains(a)) continue;
            const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
            const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
            const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
            // Over 2px both ways: borders that touch or a subpixel are not an overlap.
            if (w > 2 && h > 2) {
                problems.push(`overlap: ${describe(a)} and ${describe(b)} share `
                    + `${Math.round(w)}x${Math.round(h)}px`);
            }
        }
    }
    const header = [...document.querySelectorAll(
        "header *, .brand, .brand *, main h1, .auth-nav *"
    )].filter((el) => visible(el) && getComputedStyle(el).display !== "inline"
        && el.textContent.trim() && ![...el.children].some((c) => c.textContent.trim()));
    for (const el of new Set(header)) {
        if (el.scrollWidth > el.clientWidth + 1) {
            problems.push(`cut off: ${describe(el)} needs ${el.scrollWidth}px, has `
                + `${el.clientWidth}px`);
        }
    }
    return problems;
}"""

# What a chat page has to open for its panels to be checked too: each tuple is clicked in
# order, measured, then closed. The header's panels one after the other: a person opens
# Download, then the system prompt (or Share) without closing the first.
SETTINGS = "#conversation-settings > summary"
DOWNLOAD = "#export-menu > summary"
SHARE = "#share-button"
PANELS = {
    "chat-empty": [("#dataset-picker > summary",)],
    "chat-answer": [
        ("#dataset-picker > summary",),
        (SETTINGS,),
        (DOWNLOAD, SETTINGS),
        (SETTINGS, DOWNLOAD),
        (SHARE, SETTINGS),
        (SETTINGS, SHARE),
    ],
}

CLOSE_PANELS = """() => {
    for (const box of document.querySelectorAll("details[open]")) box.open = false;
    const share = document.getElementById("share-panel");
    if (share) share.hidden = true;
    const header = document.querySelector(".chat-header");
    if (header) header.dataset.menu = "closed";
}"""


def problems_of(page) -> list[str]:
    return page.evaluate(MEASURE)


def panel_states(tab, check: str, shots: list[Path], name: str) -> list[tuple[str, list]]:
    """Each of ``check``'s PANELS opened, measured, saved as ``name`` with the panels in it
    (``{}``) in each folder of ``shots``, then closed."""
    states = []
    for openers in PANELS.get(check, []):
        menu = tab.locator("#header-menu-toggle")
        if not tab.locator(openers[0]).is_visible() and menu.is_visible():
            menu.click()  # on a phone the header's controls fold into the ⋯ menu
        for opener in openers:
            tab.click(opener)
        states.append((f" with {' then '.join(openers)} open", problems_of(tab)))
        panels = "-".join(o.split(" ")[0].lstrip("#") for o in openers)
        for shot in shots:
            tab.screenshot(path=str(shot / name.format(panels)))
        tab.evaluate(CLOSE_PANELS)
    return states


def screenshot_folders(tmp_path: Path) -> list[Path]:
    """The test's tmp dir, and AIPORTAL_SCREENSHOTS when set (to look at them by hand)."""
    shots = [tmp_path]
    if os.environ.get("AIPORTAL_SCREENSHOTS"):
        shots.append(Path(os.environ["AIPORTAL_SCREENSHOTS"]))
    for folder in shots:
        folder.mkdir(parents=True, exist_ok=True)
    return shots


def page_problems(tab, check: str, shots: list[Path], label: str) -> dict[str, list[str]]:
    """What the measure finds on ``check``'s page as it opened and with each of its panels
    open, by state; a screenshot of each (``label`` names them: ``{check}``, ``{state}``)."""
    for shot in shots:
        tab.screenshot(path=str(shot / label.format(check=check, state="page")))
    states = [("", problems_of(tab))]
    states += panel_states(tab, check, shots, label.format(check=check, state="{}"))
    return {f"{check}{state}": problems for state, problems in states if problems}


def layout_report(title: str, found: dict[str, list[str]]) -> str:
    return f"{title}:\n" + "\n".join(
        f"{where}:\n" + "\n".join(f"  {p}" for p in problems) for where, problems in found.items()
    )


def test_the_measure_sees_overflow_overlap_and_cut_off_text(page):
    """The check itself can fail: a page with each defect on purpose."""
    resize(page, {"width": 390, "height": 844})
    page.set_content(
        """<html><body style="margin:0">
        <header><h1 style="width:60px;overflow:hidden;white-space:nowrap">A long title</h1>
          <button style="position:absolute;left:10px;top:0;width:80px">Menu</button>
          <details><summary>More</summary><a href="#"
            style="position:absolute;left:10px;top:0;width:80px">Hidden link</a></details></header>
        <div style="width:600px">wide</div>
        <textarea id="composer-input" style="position:absolute;top:300px;left:0;width:200px">
        </textarea>
        <button id="send-button" style="position:absolute;top:300px;left:150px">Send</button>
        </body></html>"""
    )
    found = "\n".join(problems_of(page))
    assert "horizontal overflow: the page is 600px wide in a 390px window" in found
    assert 'overlap: h1 "A long title" and button "Menu"' in found
    assert 'overlap: textarea#composer-input and button#send-button "Send"' in found
    assert 'cut off: h1 "A long title" needs' in found
    assert "Hidden link" not in found  # in a closed <details>: nobody sees it


@pytest.mark.usefixtures("transactional_db")
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_main_pages_fit_without_overflow_overlap_or_cut_off_text(
    page, chromium, daphne_url, owner, theme, size, tmp_path
):
    # ``page`` first: it lets the ORM run beside Playwright's loop (tests/conftest.py).
    viewport = DESKTOP if size == "desktop" else PHONE
    shots = screenshot_folders(tmp_path)
    found: dict[str, list[str]] = {}
    for check, tab in walk(
        chromium,
        site(owner),
        theme=theme,
        viewport=viewport,
        base_url=daphne_url,
        email=owner.email,
    ):
        problems = page_problems(tab, check.name, shots, f"{{check}}-{{state}}-{size}-{theme}.png")
        found.update({f"{where} ({size}, {theme})": p for where, p in problems.items()})
    assert not found, layout_report("layout problems", found)
