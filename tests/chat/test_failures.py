"""When workers fail: the user gets a specific error, the question is kept, and the answer
ends in a final state (error, with whatever text arrived) instead of streaming forever."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from tests.chat.conftest import send_frame, signed_in
from tests.conftest import free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_leftover_generations"),
]


@database_sync_to_async
def rows(conversation_id: int) -> list[tuple[str, str, str, str]]:
    return [
        (m.role, m.status, m.error_code, m.content)
        for m in Message.objects.filter(conversation_id=conversation_id).order_by("id")
    ]


async def ask(owner, question: str = "Will this work?") -> tuple[dict, dict, list[dict]]:
    async with signed_in(owner) as socket:
        await socket.send(send_frame(question, client_id="q"))
        answer = await socket.assistant_created()
        final = await socket.until_final(answer["id"])
    return answer, final, socket.deltas(answer["id"])


async def test_a_worker_answering_503_gives_upstream_failed(owner, faulty_worker):
    faulty_worker(status_503=True)
    answer, final, deltas = await ask(owner)
    assert final["type"] == "message.error"
    assert final["code"] == "upstream_failed"
    assert final["status"] == "error"
    assert final["client_id"] == "q"
    assert deltas == []
    assert await rows(answer["conversation"]) == [
        ("user", "complete", "", "Will this work?"),
        ("assistant", "error", "upstream_failed", ""),
    ]


async def test_an_unreachable_worker_gives_a_specific_error(owner, settings):
    settings.AIPORTAL_WORKERS = f"http://127.0.0.1:{free_port()}@nowhere"
    answer, final, _ = await ask(owner)
    assert final["type"] == "message.error"
    # The pool finds no worker answering /v1/models, so no model can be served.
    assert final["code"] in {"model_unavailable", "upstream_failed"}
    saved = await rows(answer["conversation"])
    assert saved[1][:3] == ("assistant", "error", final["code"])


async def test_no_configured_worker_gives_no_workers(owner, settings):
    settings.AIPORTAL_WORKERS = ""
    answer, final, _ = await ask(owner)
    assert final["code"] == "no_workers"
    assert (await rows(answer["conversation"]))[1][:3] == ("assistant", "error", "no_workers")


async def test_a_worker_dying_mid_answer_ends_in_error_with_the_partial_text(owner, faulty_worker):
    faulty_worker(die_after_tokens=5)
    answer, final, deltas = await ask(owner)
    partial = "".join(d["text"] for d in deltas)
    assert partial
    assert final["type"] == "message.error"
    assert final["code"] == "upstream_failed"
    assert final["content"] == partial
    role, status, code, content = (await rows(answer["conversation"]))[1]
    assert (role, status, code) == ("assistant", "error", "upstream_failed")
    assert content == partial


async def test_an_error_frame_from_the_worker_ends_in_error(owner, faulty_worker):
    faulty_worker(error_after_tokens=3)
    answer, final, deltas = await ask(owner)
    assert final["code"] == "upstream_failed"
    assert final["content"] == "".join(d["text"] for d in deltas) != ""
    assert (await rows(answer["conversation"]))[1][1] == "error"
