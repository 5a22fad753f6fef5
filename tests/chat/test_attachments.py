"""Attachments: the upload (documents read, images re-encoded), its limits and refusals,
removal, the files served, exports and deletion."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from chat import export, services
from chat.models import Attachment, Conversation, Message
from chat.privacy import ChatPrivacyHook
from chat.services.attachments import (
    AttachmentRefused,
    attachment_purge_unsent,
    attachment_upload,
    attachments_bind,
)
from tests.chat.attachment_files import make_jpeg_with_metadata, make_png
from tests.datasets.files import make_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.AIPORTAL_ATTACHMENTS_DIR = tmp_path / "attachments"
    return settings.AIPORTAL_ATTACHMENTS_DIR


def stored_files(directory) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def upload(user, name: str, data: bytes) -> Attachment:
    return attachment_upload(user=user, name=name, chunks=[data])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sent_message(user, content: str = "Look") -> Message:
    conversation = Conversation.objects.create(owner=user, title="t")
    return Message.objects.create(conversation=conversation, role="user", content=content)


# --- the upload --------------------------------------------------------------------------------


def test_a_document_is_kept_with_its_text(owner, attachments_dir):
    attachment = upload(owner, "notes.md", b"# Plan\n\nShip the **rocket** on Friday.")
    assert attachment.kind == "document"
    assert attachment.media_type == "text/markdown"
    assert "Ship the **rocket** on Friday." in attachment.text
    assert attachment.message is None and attachment.conversation is None
    assert stored_files(attachments_dir) == [attachment.stored]


def test_a_pdf_and_source_code_are_read_as_documents(owner):
    pdf = upload(owner, "report.pdf", make_pdf(["Quarterly revenue grew."]))
    code = upload(owner, "main.py", b"def answer():\n    return 42\n")
    assert "Quarterly revenue grew." in pdf.text
    assert code.media_type == "text/plain" and "return 42" in code.text


def test_an_image_is_kept_reencoded_with_a_thumbnail(owner, attachments_dir):
    attachment = upload(owner, "photo.jpeg", make_jpeg_with_metadata(3000, 1500))
    assert attachment.kind == "image"
    assert attachment.media_type == "image/jpeg"
    assert (attachment.width, attachment.height) == (2048, 1024)
    assert stored_files(attachments_dir) == sorted([attachment.stored, attachment.thumb_stored])
    thumb = Image.open(attachments_dir / str(owner.pk) / attachment.thumb_stored)
    assert max(thumb.size) <= 320


def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(owner, settings, attachments_dir):
    settings.AIPORTAL_ATTACHMENT_MAX_BYTES = 2048
    with pytest.raises(AttachmentRefused) as refused:
        attachment_upload(user=owner, name="big.txt", chunks=[b"a" * 1500, b"b" * 1500])
    assert refused.value.code == "too_big"
    assert not Attachment.objects.exists()
    assert stored_files(attachments_dir) == []


def test_one_attachment_too_many_is_refused(owner, settings):
    settings.AIPORTAL_ATTACHMENTS_PER_MESSAGE = 2
    upload(owner, "a.txt", b"one")
    upload(owner, "b.txt", b"two")
    with pytest.raises(AttachmentRefused) as refused:
        upload(owner, "c.txt", b"three")
    assert refused.value.code == "too_many"
    assert Attachment.objects.count() == 2


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("archive.zip", b"PK\x03\x04rest", "unsupported"),
        ("program.exe", b"MZ\x90\x00", "unsupported"),
        ("fake.pdf", b"not a pdf at all", "unreadable"),
        ("empty.txt", b"", "unreadable"),
        ("blank.txt", b"   \n\n  ", "unreadable"),
        ("picture.png", b"just some text", "unsupported"),
    ],
)
def test_a_file_aiportal_does_not_read_is_refused_and_leaves_nothing(
    owner, attachments_dir, name, data, code
):
    with pytest.raises(AttachmentRefused) as refused:
        upload(owner, name, data)
    assert refused.value.code == code
    assert str(refused.value)
    assert not Attachment.objects.exists()
    assert stored_files(attachments_dir) == []


def test_a_failed_save_removes_the_files_it_wrote(owner, attachments_dir, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Attachment.objects, "create", broken)
    with pytest.raises(RuntimeError):
        upload(owner, "photo.png", make_png())
    assert stored_files(attachments_dir) == []


def test_binding_gives_only_the_users_unsent_attachments_to_the_message(owner, outsider):
    mine = upload(owner, "a.txt", b"mine")
    theirs = upload(outsider, "b.txt", b"theirs")
    message = sent_message(owner)
    with pytest.raises(Attachment.DoesNotExist):
        attachments_bind(
            user=owner, ids=[mine.pk, theirs.pk], conversation=message.conversation, message=message
        )
    bound = attachments_bind(
        user=owner, ids=[mine.pk], conversation=message.conversation, message=message
    )
    assert [a.pk for a in bound] == [mine.pk]
    mine.refresh_from_db()
    assert mine.message == message and mine.conversation == message.conversation
    # Sent once: not again.
    with pytest.raises(Attachment.DoesNotExist):
        attachments_bind(
            user=owner, ids=[mine.pk], conversation=message.conversation, message=message
        )


def test_unsent_attachments_left_for_a_day_are_purged(
    owner, attachments_dir, django_capture_on_commit_callbacks
):
    old = upload(owner, "old.txt", b"old")
    fresh = upload(owner, "fresh.txt", b"fresh")
    sent = upload(owner, "sent.txt", b"sent")
    message = sent_message(owner)
    attachments_bind(user=owner, ids=[sent.pk], conversation=message.conversation, message=message)
    Attachment.objects.filter(pk__in=[old.pk, sent.pk]).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert attachment_purge_unsent() == 1
    assert set(Attachment.objects.values_list("pk", flat=True)) == {fresh.pk, sent.pk}
    assert old.stored not in stored_files(attachments_dir)


# --- the views -----------------------------------------------------------------------------------


def test_the_upload_view_answers_the_attachment_as_json(owner):
    response = client_for(owner).post(
        "/chat/attachments/", {"file": SimpleUploadedFile("dot.png", make_png(), "text/plain")}
    )
    assert response.status_code == 201
    body = response.json()
    attachment = Attachment.objects.get()
    assert body == {
        "id": attachment.pk,
        "name": "dot.png",
        "kind": "image",
        "size": attachment.size,
        "media_type": "image/png",
        "width": 40,
        "height": 30,
        "url": f"/chat/attachments/{attachment.pk}/",
        "thumbnail_url": f"/chat/attachments/{attachment.pk}/thumb/",
    }


def test_the_upload_view_says_why_it_refuses(owner, settings):
    settings.AIPORTAL_ATTACHMENT_MAX_BYTES = 1024
    client = client_for(owner)
    big = client.post("/chat/attachments/", {"file": SimpleUploadedFile("a.txt", b"x" * 2000)})
    assert big.status_code == 413 and big.json()["code"] == "too_big"
    odd = client.post("/chat/attachments/", {"file": SimpleUploadedFile("a.exe", b"MZ")})
    assert odd.status_code == 400 and odd.json()["code"] == "unsupported"
    none = client.post("/chat/attachments/", {})
    assert none.status_code == 400
    assert not Attachment.objects.exists()


def test_the_upload_needs_a_session_and_the_csrf_token(owner):
    anonymous = Client().post("/chat/attachments/", {"file": SimpleUploadedFile("a.txt", b"x")})
    assert anonymous.status_code == 401
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    forged = client.post("/chat/attachments/", {"file": SimpleUploadedFile("a.txt", b"x")})
    assert forged.status_code == 403
    assert not Attachment.objects.exists()


def test_an_unsent_attachment_can_be_removed_but_not_a_sent_one(
    owner, attachments_dir, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    unsent = upload(owner, "a.txt", b"unsent")
    sent = upload(owner, "b.txt", b"sent")
    message = sent_message(owner)
    attachments_bind(user=owner, ids=[sent.pk], conversation=message.conversation, message=message)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/chat/attachments/{unsent.pk}/").status_code == 204
        assert client.delete(f"/chat/attachments/{sent.pk}/").status_code == 404
    assert list(Attachment.objects.values_list("pk", flat=True)) == [sent.pk]
    assert stored_files(attachments_dir) == [sent.stored]


def test_a_served_image_is_inline_and_a_document_is_downloaded(owner):
    client = client_for(owner)
    image = upload(owner, "dot.png", make_png())
    page = upload(owner, "page.html", b"<h1>Hi</h1><script>alert(1)</script><p>text</p>")
    shown = client.get(f"/chat/attachments/{image.pk}/")
    assert shown.status_code == 200
    assert shown["Content-Type"] == "image/png"
    assert shown["Content-Disposition"].startswith("inline")
    assert shown["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in shown["Content-Security-Policy"]
    assert b"".join(shown.streaming_content).startswith(b"\x89PNG")
    thumb = client.get(f"/chat/attachments/{image.pk}/thumb/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/png"
    downloaded = client.get(f"/chat/attachments/{page.pk}/")
    assert downloaded["Content-Type"] == "text/plain; charset=utf-8"
    assert downloaded["Content-Disposition"].startswith("attachment")


# --- exports and deletion -----------------------------------------------------------------


def _conversation_with_attachments(owner) -> Conversation:
    doc = upload(owner, "notes.txt", b"The launch code is 1234.")
    image = upload(owner, "dot.png", make_png())
    message = sent_message(owner, "What do these say?")
    attachments_bind(
        user=owner, ids=[doc.pk, image.pk], conversation=message.conversation, message=message
    )
    return message.conversation


def test_the_conversation_export_lists_attachments_with_their_text(owner):
    conversation = _conversation_with_attachments(owner)
    data = json.loads(export.export_json(conversation=conversation))
    attached = data["messages"][0]["attachments"]
    assert [(a["name"], a["kind"]) for a in attached] == [
        ("notes.txt", "document"),
        ("dot.png", "image"),
    ]
    assert attached[0]["text"] == "The launch code is 1234."
    markdown = export.export_markdown(conversation=conversation)
    assert "- Attached document: ` notes.txt `" in markdown
    assert "- Attached image: ` dot.png `" in markdown


def test_export_my_data_holds_the_files(owner):
    conversation = _conversation_with_attachments(owner)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for part in ChatPrivacyHook().export_parts(user=owner):
            part.write(archive)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        files = [n for n in names if "-attachments/" in n]
        assert len(files) == 2, names
        text = next(n for n in files if n.endswith("notes.txt"))
        assert archive.read(text) == b"The launch code is 1234."
        tree = json.loads(archive.read(next(n for n in names if n.endswith(".json"))))
    assert tree["messages"][0]["attachments"][0]["text"] == "The launch code is 1234."
    assert conversation.pk


@pytest.mark.django_db(transaction=True)
def test_deleting_a_conversation_or_an_account_removes_rows_and_files(
    owner, member, attachments_dir
):
    conversation = _conversation_with_attachments(owner)
    services.conversation_delete(user=owner, id=conversation.pk)
    Conversation.objects.filter(pk=conversation.pk).update(
        deleted_at=timezone.now() - timedelta(hours=1)
    )
    assert stored_files(attachments_dir / str(owner.pk))  # the undo window keeps them
    services.conversation_purge_deleted()
    assert not Attachment.objects.filter(owner=owner).exists()
    assert stored_files(attachments_dir / str(owner.pk)) == []

    _conversation_with_attachments(member)
    upload(member, "unsent.txt", b"never sent")
    assert len(stored_files(attachments_dir / str(member.pk))) == 4
    assert ChatPrivacyHook().delete(user=member, ip=None) == {"conversations": 1, "attachments": 3}
    assert not Attachment.objects.exists()
    assert stored_files(attachments_dir) == []
