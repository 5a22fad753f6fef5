"""Hostile attachments: an image bomb, an SVG or an HTML page passed off as an image, a PDF
that runs JavaScript, and names made of markup. Each is refused, or kept as inert data."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from chat import export
from chat.models import Attachment, Conversation, Message
from chat.services.attachment_images import ImageRefused, image_reencode
from chat.services.attachments import AttachmentRefused, attachment_upload, attachments_bind
from datasets.sources.uploads import upload_name_clean
from tests.chat.attachment_files import (
    HTML_AS_IMAGE,
    SVG,
    make_pdf_with_javascript,
    make_png,
    make_png_bomb,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.AIPORTAL_ATTACHMENTS_DIR = tmp_path / "attachments"
    return settings.AIPORTAL_ATTACHMENTS_DIR


def files_in(directory) -> list:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def test_an_image_bomb_is_refused_before_it_is_decoded(owner, attachments_dir):
    bomb = make_png_bomb(20000)  # 400 million pixels in a few hundred kilobytes
    assert len(bomb) < 2**20
    with pytest.raises(AttachmentRefused) as refused:
        attachment_upload(user=owner, name="bomb.png", chunks=[bomb])
    assert "pixels" in str(refused.value)
    assert not Attachment.objects.exists() and files_in(attachments_dir) == []


def test_pillows_own_bomb_check_refuses_too(settings, monkeypatch):
    settings.AIPORTAL_ATTACHMENT_MAX_PIXELS = 10**12
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageRefused):
        image_reencode(make_png(100, 100))  # 10,000 pixels: over twice Pillow's limit
    with pytest.raises(ImageRefused):
        image_reencode(make_png(40, 40))  # 1,600: Pillow only warns, which is refused too


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("logo.svg", SVG),
        ("logo.png", SVG),
        ("cat.jpg", HTML_AS_IMAGE),
        ("cat.gif", b"GIF89a" + b"<script>alert(1)</script>"),
    ],
)
def test_markup_passed_off_as_an_image_is_refused(owner, attachments_dir, name, data):
    client = Client()
    client.force_login(owner)
    # Whatever the browser says it is.
    upload = SimpleUploadedFile(name, data, content_type="image/png")
    response = client.post("/chat/attachments/", {"file": upload})
    assert response.status_code == 400
    assert response.json()["code"] in {"unsupported", "unreadable"}
    assert not Attachment.objects.exists() and files_in(attachments_dir) == []


def test_a_pdf_with_javascript_is_kept_as_its_text_only(owner):
    pdf = make_pdf_with_javascript(["The budget is 12 million."], "app.alert('pwned')")
    attachment = attachment_upload(user=owner, name="report.pdf", chunks=[pdf])
    assert "The budget is 12 million." in attachment.text
    assert "app.alert" not in attachment.text and "JavaScript" not in attachment.text
    client = Client()
    client.force_login(owner)
    served = client.get(f"/chat/attachments/{attachment.pk}/")
    # Downloaded, never opened in the page; and were it opened, nothing in it may run.
    assert served["Content-Disposition"].startswith("attachment")
    assert "sandbox" in served["Content-Security-Policy"]
    assert served["X-Content-Type-Options"] == "nosniff"


NAMES = [
    '"><img src=x onerror=alert(1)>.txt',
    "[click me](javascript:alert(1)).md",
    "**bold** `code` <script>alert(1)</script>.txt",
    'quote";filename="evil.html.txt',
]


@pytest.mark.parametrize("name", NAMES)
def test_markup_in_a_file_name_stays_data(owner, name):
    attachment = attachment_upload(user=owner, name=name, chunks=[b"plain text"])
    conversation = Conversation.objects.create(owner=owner, title="t")
    message = Message.objects.create(conversation=conversation, role="user", content="see")
    attachments_bind(user=owner, ids=[attachment.pk], conversation=conversation, message=message)
    client = Client()
    client.force_login(owner)
    served = client.get(f"/chat/attachments/{attachment.pk}/")
    disposition = served["Content-Disposition"]
    # One header, one file name: no quote or line break in it ends it early.
    assert "\n" not in disposition and "\r" not in disposition
    assert re.fullmatch(r"""attachment; filename="[^"\\;]*"(; filename\*=[^"\s;]*)?""", disposition)
    # The Markdown export names it inside a code span; the JSON export as a string.
    markdown = export.export_markdown(conversation=conversation)
    line = next(line for line in markdown.splitlines() if line.startswith("- Attached"))
    assert line.startswith("- Attached document: `")
    exported = json.loads(export.export_json(conversation=conversation))
    assert exported["messages"][0]["attachments"][0]["name"] == upload_name_clean(name)
    # The thread's JSON carries it as a string (the page sets it as text: browser test).
    thread = client.get(f"/c/{conversation.pk}/messages/?ids={message.pk}")
    assert thread.status_code == 200
    payload = thread.json()["messages"][0]["attachments"][0]
    assert payload["name"] == upload_name_clean(name)
