"""Stored cross-site scripting: text that people or models wrote (model answers, questions,
conversation titles, dataset names and descriptions, uploaded file names, API key names,
saved prompts' titles, descriptions and texts, in the page and the composer's "/" list) is
shown as text on every page that shows it, and never runs.

Each payload, if it ran, would set ``window.__xss``. The browser tests open the pages in
Chromium on a real Daphne and check that it was never set and no dialog opened; the
server-rendered pages (admin included) are also checked for the payload's markup arriving
escaped. Files that a browser could run (SVG, HTML) are refused at upload, and the files
aiportal hands back (exports) are attachments with nosniff.
"""

from __future__ import annotations

import io
import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from chat import services
from chat.services.conversations import conversation_share_create
from gateway.keys import apikey_create
from prompts.models import SavedPrompt
from prompts.services import prompt_create
from tests.chat.test_browser import sign_in
from tests.datasets.export_support import dataset_export_fetch

MARKUP = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '"><svg onload=window.__xss=1>',
    '\'><iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '<a href="javascript:window.__xss=1" id=xss-link>link</a>',
    "<details open ontoggle=window.__xss=1>",
    "</textarea></script><script>window.__xss=1</script>",
]
PAYLOAD = " ".join(MARKUP)
# Markdown that a careless renderer turns into live markup.
MARKDOWN = (
    '[click](javascript:window.__xss=1) ![x](x" onerror="window.__xss=1)\n\n'
    '<img src=x onerror="window.__xss=1">\n\n```html\n<script>window.__xss=1</script>\n```\n\n'
    "[data](data:text/html,<script>parent.__xss=1</script>) <style>*{display:none}</style>"
)
# Each payload's opening tag as it would stand in the page had it not been escaped.
RAW = re.compile(
    r"<img src=x|<script>window|<svg onload|<iframe srcdoc|<details open|<a href=.javascript", re.I
)


@pytest.fixture
def stored(owner, dataset, upload, refill_now):
    """The owner's conversation, dataset and key, each holding the payloads where a person
    (or a model) can put text."""
    conversation = services.conversation_create(user=owner, title=f"Title {MARKUP[0]}")
    _, answer = services.message_create_turn(
        conversation=conversation, parent=None, content=f"Question {PAYLOAD}", model=""
    )
    services.message_finish(
        message_id=answer.pk,
        content=f"Answer {PAYLOAD}\n\n{MARKDOWN}\n\nthe end",
        last_seq=1,
        status="complete",
    )
    dataset.name = f"Data {MARKUP[2]}"
    dataset.description = PAYLOAD
    dataset.save()
    upload(dataset, {f"{MARKUP[0]}.txt": f"Document text {PAYLOAD}"})
    refill_now(dataset)
    apikey_create(user=owner, name=MARKUP[1][:100])
    token = conversation_share_create(user=owner, id=conversation.pk)
    prompt_create(
        user=owner, title=f"Prompt {MARKUP[0]}", command="xss", body=PAYLOAD, description=MARKUP[1]
    )
    organisation = SavedPrompt.objects.create(title=MARKUP[2], command="orgxss", body=PAYLOAD)
    return {
        "conversation": conversation,
        "dataset": dataset,
        "token": token,
        "organisation_prompt": organisation,
    }


def _pages(stored) -> list[str]:
    return [
        "/",
        f"/c/{stored['conversation'].pk}/",
        f"/s/{stored['token']}/",
        "/datasets/",
        f"/datasets/{stored['dataset'].pk}/",
        "/settings/keys/",
        "/prompts/",
    ]


@pytest.mark.django_db
def test_server_rendered_pages_escape_every_payload(stored, owner, make_user):
    assert all(RAW.search(markup) for markup in MARKUP)  # the check can see each payload
    client = Client()
    client.force_login(owner)
    admin = Client()
    admin.force_login(make_user("root@example.com", is_staff=True))
    admin_user = type(owner).objects.get(email="root@example.com")
    admin_user.is_superuser = True
    admin_user.save()
    pages = [(client, path) for path in _pages(stored)] + [
        (admin, "/admin/chat/conversation/"),
        (admin, f"/admin/chat/conversation/{stored['conversation'].pk}/change/"),
        (admin, "/admin/datasets/dataset/"),
        (admin, f"/admin/datasets/dataset/{stored['dataset'].pk}/change/"),
        (admin, "/admin/chat/message/"),
        (admin, "/admin/gateway/apikey/"),
        (admin, "/admin/prompts/savedprompt/"),
        (admin, f"/admin/prompts/savedprompt/{stored['organisation_prompt'].pk}/change/"),
    ]
    for who, path in pages:
        answer = who.get(path)
        assert answer.status_code == 200, path
        html = answer.content.decode()
        assert not RAW.search(html), (path, RAW.search(html).group(0))


@pytest.mark.django_db
def test_files_a_browser_could_run_are_refused_and_exports_are_attachments(stored, owner, dataset):
    client = Client()
    client.force_login(owner)
    for name, body in [
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("page.html.svg", b"<svg/>"),
        ("page.xhtml", b"<html/>"),
        ("image.svgz", b"\x1f\x8b"),
    ]:
        upload = io.BytesIO(body)
        upload.name = name
        page = client.post(f"/datasets/{dataset.pk}/upload/", {"files": [upload]}, follow=True)
        assert "aiportal reads only" in page.content.decode(), name
    # HTML is read (its text extracted) but, like every upload, never served back inline:
    # the only way out is inside the export zip below.
    exports = {
        "dataset": dataset_export_fetch(client, dataset, owner),
        "markdown": client.get(f"/c/{stored['conversation'].pk}/export.md"),
        "json": client.get(f"/c/{stored['conversation'].pk}/export.json"),
        "prompts": client.get("/prompts/export.json"),
    }
    for path, answer in exports.items():
        assert answer.status_code == 200
        assert answer["Content-Disposition"].startswith("attachment"), path
        assert answer["X-Content-Type-Options"] == "nosniff", path
        assert not answer["Content-Type"].startswith(("text/html", "image/svg")), path


@pytest.mark.browser
@pytest.mark.usefixtures("transactional_db")
def test_no_payload_runs_in_chromium_on_any_page(page, daphne_url, owner, stored):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, daphne_url, owner.email)
    for path in _pages(stored):
        page.goto(f"{daphne_url}{path}")
        page.wait_for_load_state("networkidle")
        if path.startswith("/c/"):
            # The answer is rendered by the page's script (markdown, then the sanitiser).
            expect(page.locator(".message.assistant .content")).to_contain_text("the end")
            links = page.locator(".message.assistant .content a")
            for index in range(links.count()):
                href = links.nth(index).get_attribute("href") or ""
                assert not href.lower().startswith(("javascript:", "data:")), href
        assert page.evaluate("window.__xss") is None, path
        assert page.evaluate("window.parent.__xss") is None, path
    # The composer's "/" list shows saved prompts' titles as text (static/prompts/composer.js).
    page.goto(f"{daphne_url}/")
    page.locator("#composer-input").press_sequentially("/xss")
    options = page.get_by_role("listbox", name="Saved prompts").get_by_role("option")
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text('<img src=x onerror="window.__xss=1">')
    assert page.locator("#prompt-popup img, #prompt-popup svg, #prompt-popup script").count() == 0
    page.keyboard.press("Enter")  # no variables: the text goes into the box as text
    assert page.locator("#composer-input").input_value() == PAYLOAD
    assert page.evaluate("window.__xss") is None
    # The chat page shows the title as text, the dataset page the file name as text.
    page.goto(f"{daphne_url}/datasets/{stored['dataset'].pk}/")
    expect(page.get_by_text("onerror", exact=False).first).to_be_visible()
    assert dialogs == []
