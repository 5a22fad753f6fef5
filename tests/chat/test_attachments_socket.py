"""``chat.send`` with attachments: only the sender's own unsent ones, bound to the new message
in the same transaction; documents and images put before the model; refusals that write
nothing."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Attachment, Conversation, Message
from chat.services import turns
from chat.services.attachments import attachment_upload
from gateway.models import ModelCapability
from tests.chat.attachment_files import make_png
from tests.chat.conftest import send_frame, signed_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations", "workers"),
]

MODEL = "aiportal-emulator"


@pytest.fixture(autouse=True)
def attachments_dir(settings, tmp_path):
    settings.AIPORTAL_ATTACHMENTS_DIR = tmp_path / "attachments"


@pytest.fixture
def contexts(monkeypatch):
    """What each generation was asked to answer (the messages the model gets)."""
    seen: list[dict] = []
    start = turns.generation_start

    async def recording(**kwargs):
        seen.append(kwargs)
        return await start(**kwargs)

    monkeypatch.setattr(turns, "generation_start", recording)
    return seen


upload = database_sync_to_async(
    lambda user, name, data: attachment_upload(user=user, name=name, chunks=[data])
)


@database_sync_to_async
def attachment_state(pk: int) -> tuple[int | None, int | None]:
    row = Attachment.objects.get(pk=pk)
    return row.message_id, row.conversation_id


@database_sync_to_async
def counts() -> tuple[int, int]:
    return Conversation.objects.count(), Message.objects.count()


@database_sync_to_async
def vision(model: str) -> None:
    ModelCapability.objects.create(model=model, vision=True)


async def test_a_document_is_bound_to_the_message_and_put_before_the_model(owner, contexts):
    doc = await upload(owner, "plan.txt", b"The launch is on the 12th of March, from pad 39A.")
    async with signed_in(owner) as socket:
        await socket.send(send_frame("When is the launch?", attachments=[doc.pk]))
        created = await socket.until(
            lambda f: f["type"] == "message.created" and f["message"]["role"] == "user"
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    user_message = created["message"]
    assert [a["id"] for a in user_message["attachments"]] == [doc.pk]
    assert user_message["attachments"][0]["name"] == "plan.txt"
    assert await attachment_state(doc.pk) == (user_message["id"], user_message["conversation"])
    assert done["type"] == "message.done" and done["status"] == "complete"
    # Whole (it fits), in a system message just before the question, and cited.
    context = contexts[0]["context"]
    block = context[-2]
    assert block["role"] == "system" and "untrusted data" in block["content"]
    assert "pad 39A" in block["content"] and 'name="plan.txt"' in block["content"]
    assert context[-1]["role"] == "user"
    assert '[Attached document: "plan.txt"]' in context[-1]["content"]
    assert done["citations"] == [
        {
            "n": 1,
            "attachment": doc.pk,
            "title": "plan.txt",
            "chunk": None,
            "url": f"/chat/attachments/{doc.pk}/",
            "snippet": "The launch is on the 12th of March, from pad 39A.",
        }
    ]


async def test_another_users_attachment_is_not_found_and_nothing_is_written(owner, outsider):
    theirs = await upload(outsider, "secret.txt", b"their secret")
    mine = await upload(owner, "mine.txt", b"mine")
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Read this", attachments=[mine.pk, theirs.pk]))
        refused = await socket.until_type("message.error")
    assert refused["code"] == "not_found" and refused["message"] is None
    assert await counts() == (0, 0)
    assert await attachment_state(theirs.pk) == (None, None)
    assert await attachment_state(mine.pk) == (None, None)


async def test_an_attachment_cannot_be_sent_twice(owner):
    doc = await upload(owner, "a.txt", b"once")
    async with signed_in(owner) as socket:
        await socket.send(send_frame("First", attachments=[doc.pk]))
        answer = await socket.assistant_created()
        await socket.until_final(answer["id"])
        conversation = answer["conversation"]
        await socket.send(send_frame("Again", conversation=conversation, attachments=[doc.pk]))
        refused = await socket.until_type("message.error")
    assert refused["code"] == "not_found"
    assert await counts() == (1, 2)


async def test_an_image_to_a_text_only_model_is_refused_before_anything_is_sent(owner, contexts):
    image = await upload(owner, "chart.png", make_png())
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is this?", attachments=[image.pk]))
        refused = await socket.until_type("message.error")
    assert refused["code"] == "model_no_images"
    assert "does not read images" in refused["detail"]
    assert await counts() == (0, 0)
    assert await attachment_state(image.pk) == (None, None)
    assert contexts == []


async def test_an_image_reaches_a_vision_model_as_an_image_url_part(owner, contexts):
    await vision(MODEL)
    image = await upload(owner, "chart.png", make_png())
    async with signed_in(owner) as socket:
        await socket.send(send_frame("What is this?", attachments=[image.pk]))
        created = await socket.until(
            lambda f: f["type"] == "message.created" and f["message"]["role"] == "user"
        )
        answer = await socket.assistant_created()
        done = await socket.until_final(answer["id"])
    assert done["status"] == "complete"
    attached = created["message"]["attachments"][0]
    assert attached["thumbnail_url"] == f"/chat/attachments/{image.pk}/thumb/"
    question = contexts[0]["context"][-1]
    assert question["content"][0] == {"type": "text", "text": "What is this?"}
    part = question["content"][1]
    assert part["type"] == "image_url"
    assert part["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


async def test_too_many_attachments_are_refused(owner, settings):
    settings.AIPORTAL_ATTACHMENTS_PER_MESSAGE = 1
    first = await upload(owner, "a.txt", b"a")
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Both", attachments=[first.pk, first.pk + 1]))
        refused = await socket.until_type("message.error")
    assert refused["code"] == "too_many" and refused["limit"] == 1
    assert await counts() == (0, 0)


@pytest.mark.parametrize("bad", ["1", [0], [True], ["1"], {"id": 1}, list(range(1, 102))])
async def test_a_malformed_attachments_field_is_a_bad_request(owner, bad):
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Hi", attachments=bad))
        error = await socket.until_type("error")
    assert error["code"] == "bad_request"
    assert await counts() == (0, 0)


async def test_a_regenerated_answer_still_reads_the_questions_document(owner, contexts):
    doc = await upload(owner, "plan.txt", b"The launch is from pad 39A.")
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Where from?", attachments=[doc.pk]))
        first = await socket.assistant_created()
        await socket.until_final(first["id"])
        await socket.send({"type": "chat.regenerate", "message": first["id"]})
        second = await socket.until(
            lambda f: (
                f["type"] == "message.created"
                and f["message"]["role"] == "assistant"
                and f["message"]["id"] != first["id"]
            )
        )
        done = await socket.until_final(second["message"]["id"])
    assert done["citations"][0]["attachment"] == doc.pk
    assert "pad 39A" in contexts[1]["context"][-2]["content"]
