"""The prompt library in Chromium on a real Daphne: "/" in the message box lists the saved
prompts (keyboard and mouse, the combobox pattern), a prompt with variables opens its small
form, the filled text replaces the "/query" and is sent; the library's page with its live
preview. Screenshots (tests/pages/shots.py) of each, desktop and phone, light and dark."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from prompts.models import SavedPrompt
from prompts.services import prompt_create
from tests.chat.test_browser import sign_in
from tests.pages.shots import shots
from tests.pages.viewport import resize

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def _listbox(page):
    return page.get_by_role("listbox", name="Saved prompts")


def test_slash_picks_a_prompt_fills_its_variables_and_the_filled_text_is_sent(
    page, daphne_url, owner
):
    prompt_create(
        user=owner,
        title="Translate a text",
        command="translate",
        body="Translate {{text}} into {{language|French}}.",
        description="Any language",
    )
    prompt_create(user=owner, title="Be brief", command="brief", body="Answer in one line.")
    sign_in(page, daphne_url, owner.email)
    box = page.locator("#composer-input")
    box.press_sequentially("Please: /tr")
    options = _listbox(page).get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("/translate")
    expect(box).to_have_attribute("role", "combobox")
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(box).to_have_attribute("aria-activedescendant", "prompt-option-0")
    expect(options.first).to_have_attribute("aria-selected", "true")
    shots(page, "prompts-composer-list")

    box.press("Enter")  # picks it: the box is not sent
    text = page.get_by_role("textbox", name="text", exact=True)
    expect(text).to_be_focused()
    expect(page.get_by_role("textbox", name="language", exact=True)).to_have_value("French")
    expect(box).not_to_have_attribute("role", "combobox")
    shots(page, "prompts-composer-fill")
    text.press("Enter")  # empty and without a default: it must be filled
    expect(page.locator(".prompt-fill [role=alert]")).to_have_text("Fill in “text”.")
    expect(text).to_be_focused()
    assert box.input_value() == "Please: /tr"
    text.fill("good morning")
    text.press("Enter")
    filled = "Please: Translate good morning into French."
    expect(box).to_have_value(filled)
    expect(box).to_be_focused()
    expect(page.locator("#prompt-popup")).to_be_hidden()
    assert page.locator(".message").count() == 0  # inserted, not sent

    box.press("Enter")
    expect(page.locator(".message.user .content")).to_have_text(filled)
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")


def test_the_list_works_with_arrows_escape_and_the_mouse(page, daphne_url, owner, member):
    team = Group.objects.create(name="Team")
    owner.groups.add(team)
    member.groups.add(team)
    prompt_create(user=owner, title="Be brief", command="brief", body="Answer in one line.")
    prompt_create(user=owner, title="Check", command="check", body="Check this.")
    prompt_create(user=member, title="Team tone", command="tone", body="Warm.", groups=[team.pk])
    SavedPrompt.objects.create(title="House style", command="style", body="Plain words.")
    sign_in(page, daphne_url, owner.email)
    box = page.locator("#composer-input")
    box.press_sequentially("/")
    options = _listbox(page).get_by_role("option")
    expect(options).to_have_count(4)
    # Own first, then shared (with who shared it), then the organisation's.
    expect(options).to_contain_text(["/brief", "/check", "/tone", "/style"])
    expect(options.nth(2)).to_contain_text("shared by member@example.com")
    expect(options.nth(3)).to_contain_text("organisation")
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "prompt-option-1")
    box.press("ArrowUp")
    box.press("ArrowUp")  # wraps to the last
    expect(options.nth(3)).to_have_attribute("aria-selected", "true")
    box.press("Escape")
    expect(page.locator("#prompt-popup")).to_be_hidden()
    expect(box).not_to_have_attribute("role", "combobox")
    assert box.input_value() == "/"

    # After a space, mid-text, by mouse: a prompt without variables goes in at once.
    box.fill("")
    box.press_sequentially("First line. /ch")
    expect(options).to_have_count(1)
    options.first.click()
    expect(box).to_have_value("First line. Check this.")
    expect(box).to_be_focused()
    # Back in the box while a prompt's form is open gives the form up.
    prompt_create(user=owner, title="Ask", command="ask", body="Ask {{who}}")
    box.press_sequentially(" /ask")
    box.press("Enter")  # at once, the list perhaps not there yet: Enter waits and picks it
    expect(page.locator(".prompt-fill")).to_be_visible()
    box.click()
    expect(page.locator("#prompt-popup")).to_be_hidden()
    expect(box).to_have_value("First line. Check this. /ask")
    box.fill("First line. Check this.")
    # A "/" inside a word is not a command; nothing matching says so.
    box.press_sequentially(" and/or")
    expect(page.locator("#prompt-popup")).to_be_hidden()
    box.press_sequentially(" /nothing-matches")
    expect(page.locator("#prompt-popup .prompt-empty")).to_have_text(
        "No saved prompt matches “/nothing-matches”."
    )
    # Nothing to pick: Enter sends the text as typed, and the list goes.
    box.press("Enter")
    expect(page.locator(".message.user .content")).to_have_text(
        "First line. Check this. and/or /nothing-matches"
    )
    expect(page.locator("#prompt-popup")).to_be_hidden()
    # Inserted text that ends like a "/query" does not open the list again.
    prompt_create(user=owner, title="Paths", command="paths", body="Look in /tmp")
    expect(page.locator(".message.assistant")).to_have_attribute("data-status", "complete")
    box.press_sequentially("/paths")
    expect(options).to_have_count(1)
    box.press("Enter")
    expect(box).to_have_value("Look in /tmp")
    page.wait_for_timeout(400)  # past the list's wait: nothing was asked for
    expect(page.locator("#prompt-popup")).to_be_hidden()


def test_the_library_page_previews_variables_live_and_saves_a_shared_prompt(
    page, daphne_url, owner, member
):
    team = Group.objects.create(name="Support team")
    owner.groups.add(team)
    member.groups.add(team)
    prompt_create(
        user=member, title="Shared with owner", command="theirs", body="b", groups=[team.pk]
    )
    SavedPrompt.objects.create(title="House style", command="style", body="Plain words.")
    sign_in(page, daphne_url, owner.email)
    page.get_by_role("link", name="Prompts").click()
    expect(page.get_by_role("heading", name="Prompt library")).to_be_visible()
    page.get_by_role("link", name="New prompt").click()
    page.get_by_label("Title").fill("Reply to a customer")
    page.get_by_label("Command").fill("reply")
    page.get_by_label("Text", exact=True).fill(
        "Reply to {{customer}} in {{language|English}}, signed {{name|}}.\n`{{kept}}`"
    )
    variables = page.locator("#preview-variables li")
    expect(variables).to_have_count(3)
    expect(variables).to_have_text(
        ["customer (to fill in)", "language (default: English)", "name (may stay empty)"]
    )
    expect(page.locator("#preview-text mark")).to_have_count(3)
    page.get_by_label("Support team").check()
    shots(page, "prompts-form")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Saved /reply.")
    expect(page.locator("#own-prompts")).to_contain_text("Shared with Support team")
    expect(page.locator("#shared-prompts")).to_contain_text("by member@example.com")
    expect(page.locator("#organisation-prompts")).to_contain_text("/style")
    shots(page, "prompts-list")
    prompt = SavedPrompt.objects.get(owner=owner)
    assert list(prompt.groups.all()) == [team]
    # Nothing wider than a phone.
    resize(page, {"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_on_a_phone_the_library_is_in_the_menu_and_the_list_fits_above_the_box(
    page, daphne_url, owner
):
    prompt_create(user=owner, title="Greet " * 30, command="greet", body="Hello {{who|you}}!")
    sign_in(page, daphne_url, owner.email)
    resize(page, {"width": 390, "height": 844})
    box = page.locator("#composer-input")
    box.press_sequentially("/gr")
    option = _listbox(page).get_by_role("option").first
    expect(option).to_be_visible()
    popup, composer = (
        page.locator(sel).bounding_box() for sel in ("#prompt-popup", "#composer-input")
    )
    assert popup["x"] >= 0 and popup["x"] + popup["width"] <= 390  # inside the screen
    assert popup["y"] + popup["height"] <= composer["y"]  # above the box, not over it
    assert option.bounding_box()["height"] >= 44  # a tap target
    option.click()
    expect(page.get_by_role("textbox", name="who", exact=True)).to_be_focused()
    page.get_by_role("button", name="Insert").click()
    expect(box).to_have_value("Hello you!")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name="More: share, download, model").click()
    link = page.get_by_role("link", name="Prompts")
    expect(link).to_be_visible()
    assert link.bounding_box()["height"] >= 44
    shots(page, "prompts-phone-menu")
    link.click()
    expect(page.get_by_role("heading", name="Prompt library")).to_be_visible()
