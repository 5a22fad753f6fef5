"""Who may fetch an attachment and its thumbnail: the owner, whoever holds a live share link
of its conversation (for the branch the link shows), and nobody else; nobody but the owner
may remove one."""

from __future__ import annotations

import pytest
from django.test import Client

from chat import services
from chat.models import Attachment, Conversation, Message
from chat.services.attachments import attachment_upload, attachments_bind
from tests.chat.attachment_files import make_png

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.AIPORTAL_ATTACHMENTS_DIR = tmp_path / "attachments"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shared(owner):
    """The owner's conversation with an image sent, shared by link; and an unsent image."""
    image = attachment_upload(user=owner, name="chart.png", chunks=[make_png()])
    conversation = Conversation.objects.create(owner=owner, title="Shared")
    message = Message.objects.create(conversation=conversation, role="user", content="Look")
    attachments_bind(user=owner, ids=[image.pk], conversation=conversation, message=message)
    token = services.conversation_share_create(user=owner, id=conversation.pk)
    unsent = attachment_upload(user=owner, name="draft.png", chunks=[make_png()])
    return {"image": image, "unsent": unsent, "token": token, "conversation": conversation}


def paths(pk: int) -> list[str]:
    return [f"/chat/attachments/{pk}/", f"/chat/attachments/{pk}/thumb/"]


def test_the_owner_gets_the_file_and_the_thumbnail(owner, shared):
    client = signed_in(owner)
    for attachment in (shared["image"], shared["unsent"]):
        for path in paths(attachment.pk):
            assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_another_user_gets_a_404_like_an_unknown_id(request, shared, who):
    client = signed_in(request.getfixturevalue(who))
    for attachment in (shared["image"], shared["unsent"]):
        for path in [*paths(attachment.pk), *paths(attachment.pk + 1000)]:
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json() == {"code": "not_found", "detail": "No such attachment."}
        assert client.delete(f"/chat/attachments/{attachment.pk}/").status_code == 404
    assert Attachment.objects.count() == 2


def test_nobody_signed_out_gets_the_owners_urls(shared):
    for path in paths(shared["image"].pk):
        assert Client().get(path).status_code == 401


def test_a_share_link_holder_gets_the_conversations_attachment_and_nothing_else(shared):
    anyone = Client()
    token, image, unsent = shared["token"], shared["image"], shared["unsent"]
    for suffix in ("", "thumb/"):
        ok = anyone.get(f"/chat/attachments/s/{token}/{image.pk}/{suffix}")
        assert ok.status_code == 200
        assert ok["Cache-Control"] == "private, no-store"
        # Not an unsent one of the same owner, nor through a made-up token.
        assert anyone.get(f"/chat/attachments/s/{token}/{unsent.pk}/{suffix}").status_code == 404
        assert anyone.get(f"/chat/attachments/s/x{token}/{image.pk}/{suffix}").status_code == 404


def test_a_share_link_does_not_open_another_conversations_attachment(owner, outsider, shared):
    other = attachment_upload(user=outsider, name="theirs.png", chunks=[make_png()])
    conversation = Conversation.objects.create(owner=outsider, title="Theirs")
    message = Message.objects.create(conversation=conversation, role="user", content="x")
    attachments_bind(user=outsider, ids=[other.pk], conversation=conversation, message=message)
    token = shared["token"]
    assert Client().get(f"/chat/attachments/s/{token}/{other.pk}/").status_code == 404


def test_a_revoked_link_or_a_deleted_conversation_closes_the_files(owner, shared):
    token, image = shared["token"], shared["image"]
    services.conversation_share_revoke(user=owner, id=shared["conversation"].pk)
    assert Client().get(f"/chat/attachments/s/{token}/{image.pk}/").status_code == 404
    services.conversation_delete(user=owner, id=shared["conversation"].pk)
    # Deleted (within its undo window): not even the owner is served it.
    assert signed_in(owner).get(f"/chat/attachments/{image.pk}/").status_code == 404


def test_the_share_page_names_its_attachments_with_the_links_urls(shared):
    response = Client().get(f"/s/{shared['token']}/")
    assert response.status_code == 200
    image = shared["image"]
    page = response.content.decode()
    assert f"/chat/attachments/s/{shared['token']}/{image.pk}/thumb/" in page
    assert f"/chat/attachments/{image.pk}/" not in page
