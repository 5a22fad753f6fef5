"""When workers fail: the user gets a specific error, the question is kept, and the answer
ends in a final state (error, with whatever text arrived) instead of streaming forever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from tests.chat.conftest import generations_finished, send_frame, signed_in
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


async def test_a_worker_answering_500_gives_upstream_failed(owner, faulty_worker):
    faulty_worker(status_500=True)
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


async def test_a_busy_worker_gives_workers_busy_with_when_to_try_again(owner, faulty_worker):
    # vLLM's 503 is a full queue, not a failure (docs/gateway/proxy.md): the person is told
    # to try again shortly, and nothing of the answer is saved but the error.
    faulty_worker(status_503=True)
    answer, final, deltas = await ask(owner)
    assert (final["type"], final["code"], final["status"]) == (
        "message.error",
        "workers_busy",
        "error",
    )
    assert final["retry_after"] >= 1
    assert deltas == []
    assert await rows(answer["conversation"]) == [
        ("user", "complete", "", "Will this work?"),
        ("assistant", "error", "workers_busy", ""),
    ]


async def test_an_unreachable_worker_gives_a_specific_error(owner, settings):
    settings.AIPORTAL_WORKERS = f"http://127.0.0.1:{free_port()}@nowhere"
    answer, final, _ = await ask(owner)
    assert final["type"] == "message.error"
    # The pool finds no worker answering /v1/models, so no model can be served.
    assert final["code"] in {"model_unavailable", "upstream_failed"}
    saved = await rows(answer["conversation"])
    assert saved[1][:3] == ("assistant", "error", final["code"])


async def test_no_configured_worker_gives_model_unavailable(owner, settings):
    settings.AIPORTAL_WORKERS = ""
    answer, final, _ = await ask(owner)
    assert final["type"] == "message.error"
    assert final["code"] == "model_unavailable"
    assert (await rows(answer["conversation"]))[1][:3] == (
        "assistant",
        "error",
        "model_unavailable",
    )


async def test_a_worker_dying_mid_answer_with_none_to_continue_keeps_the_text_interrupted(
    owner, faulty_worker
):
    faulty_worker(die_after_tokens=5)
    answer, final, deltas = await ask(owner)
    partial = "".join(d["text"] for d in deltas)
    assert partial
    assert final["type"] == "message.done"
    assert final["status"] == "interrupted"
    assert final["code"] == "upstream_failed"
    assert final["content"] == partial
    role, status, code, content = (await rows(answer["conversation"]))[1]
    assert (role, status, code) == ("assistant", "interrupted", "upstream_failed")
    assert content == partial


async def test_a_worker_dying_mid_answer_is_continued_elsewhere_into_one_whole_answer(
    owner, settings, faulty_worker, faulty_emulator_url, emulator_url
):
    """Through the socket, as a person sees it: the dying worker is in the user's home
    region, so it answers first; another continues the answer from its partial text, and
    the person gets one complete answer, saved as such, with the continuation recorded."""
    from gateway.models import Policy
    from tests.chat.conftest import emulator_state
    from tests.gateway.proxy_support import snapshot_ready

    await Policy.objects.acreate(user=owner, home_region="test-faulty")
    settings.AIPORTAL_WORKERS = f"{faulty_emulator_url}@test-faulty,{emulator_url}@test-a"
    await snapshot_ready(faulty_emulator_url, emulator_url)
    faulty_worker(die_after_tokens=5)
    failed = emulator_state(faulty_emulator_url)["failed"]

    answer, final, deltas = await ask(owner)

    assert final["type"] == "message.done"
    assert final["status"] == "complete"
    assert final["metrics"]["continued"] == 1
    assert final["metrics"]["region"] == "test-a"
    text = "".join(d["text"] for d in deltas)
    assert final["content"] == text
    assert len(text.split()) > 5  # more than the dying worker sent
    assert emulator_state(faulty_emulator_url)["failed"] == failed + 1
    role, status, code, content = (await rows(answer["conversation"]))[1]
    assert (role, status, code, content) == ("assistant", "complete", "", text)


async def test_an_error_frame_mid_answer_with_none_to_continue_ends_interrupted(
    owner, faulty_worker
):
    faulty_worker(error_after_tokens=3)
    answer, final, deltas = await ask(owner)
    assert final["code"] == "upstream_failed"
    assert final["content"] == "".join(d["text"] for d in deltas) != ""
    assert (await rows(answer["conversation"]))[1][1] == "interrupted"


async def test_a_user_over_their_daily_budget_is_told_when_it_resets(owner, workers):
    from gateway.models import Policy

    await Policy.objects.acreate(user=owner, daily_token_budget=1)
    _, first, _ = await ask(owner, "Spend my budget")
    assert first["type"] == "message.done"
    answer, final, deltas = await ask(owner, "And once more")
    assert final["type"] == "message.error"
    assert final["code"] == "over_budget"
    assert "resets at" in final["detail"]
    # The next midnight UTC, for the page to say when (and in how long).
    resets_at = datetime.fromisoformat(final["resets_at"])
    now = datetime.now(UTC)
    assert resets_at == datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    assert deltas == []
    saved = await rows(answer["conversation"])
    assert saved[-2] == ("user", "complete", "", "And once more")
    assert saved[-1][:3] == ("assistant", "error", "over_budget")


async def test_a_model_closed_to_the_user_reads_as_unavailable_in_chat(owner, workers):
    from django.contrib.auth.models import Group

    from gateway.models import ModelAccess

    access = await ModelAccess.objects.acreate(model="aiportal-emulator")
    await access.groups.aadd(await Group.objects.acreate(name="gpu-users"))
    answer, final, _ = await ask(owner)
    assert final["type"] == "message.error"
    assert final["code"] == "model_unavailable"
    saved = await rows(answer["conversation"])
    assert saved[-1][1:3] == ("error", "model_unavailable")
    # The same answer as for a model that does not exist: its existence is not disclosed.
    async with signed_in(owner) as socket:
        await socket.send(send_frame("And this one?", model="no-such-model"))
        unknown = await socket.until_final((await socket.assistant_created())["id"])
    assert (unknown["code"], unknown["detail"]) == (final["code"], final["detail"])
    assert "aiportal-emulator" not in final["detail"]


async def test_too_many_streams_at_once_is_rate_limited_with_a_retry_time(owner, slow_worker):
    from gateway.models import Policy

    await Policy.objects.acreate(user=owner, max_concurrent_streams=1)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("A long one"))
        first = await socket.assistant_created()
        await socket.until_type("message.delta")
        await socket.send(send_frame("And another", conversation=first["conversation"]))
        second = await socket.assistant_created()
        refused = await socket.until_final(second["id"])
        await socket.send({"type": "chat.stop", "message": first["id"]})
        await socket.until_final(first["id"])
    assert refused["type"] == "message.error"
    assert refused["code"] == "rate_limited"
    assert refused["retry_after"] >= 1
    assert isinstance(refused["retry_after"], int)
    assert (await rows(first["conversation"]))[-1][1:3] == ("error", "rate_limited")


async def test_an_answer_takes_no_channel_on_the_channel_layer(owner, workers, monkeypatch):
    # Its stops and resumes come through chat.bus (in memory here, one shared pub/sub channel
    # from other processes): no channel, group or message of its own on the channel layer,
    # so no receive of channels_redis's shared loop to lose a message over.
    from channels.layers import get_channel_layer

    layer_class = type(get_channel_layer())
    calls: list[tuple[str, object]] = []
    for name in ("new_channel", "group_add", "group_discard", "group_send", "send"):
        original = getattr(layer_class, name)

        async def spy(self, *args, name=name, original=original):
            calls.append((name, args[0] if args else None))
            return await original(self, *args)

        monkeypatch.setattr(layer_class, name, spy)
    async with signed_in(owner) as socket:
        await socket.send(send_frame("Will this work?"))
        answer = await socket.assistant_created()
        await socket.send({"type": "chat.resume", "message": answer["id"], "after_seq": 0})
        final = await socket.until_final(answer["id"])
    await generations_finished()
    assert final["status"] == "complete"
    # Only the socket's own channel and groups (access, datasets): joined on connect, left on
    # close.
    assert [name for name, _ in calls].count("new_channel") == 1, calls
    groups = {str(target).split(".")[0] for name, target in calls if name != "new_channel"}
    assert groups == {"accounts", "datasets"}, calls
    assert not [call for call in calls if call[0] in {"group_send", "send"}], calls


async def test_a_user_over_their_requests_per_minute_is_told_when_to_retry(owner, workers):
    from gateway.models import Policy

    await Policy.objects.acreate(user=owner, requests_per_minute=1)
    _, first, _ = await ask(owner, "One a minute")
    assert first["type"] == "message.done"  # the title made for it is not counted
    answer, final, deltas = await ask(owner, "And another")
    assert (final["type"], final["code"]) == ("message.error", "rate_limit_exceeded")
    assert "1 requests per minute" in final["detail"]
    assert 1 <= final["retry_after"] <= 60
    assert deltas == []
    saved = await rows(answer["conversation"])
    assert saved[-1][:3] == ("assistant", "error", "rate_limit_exceeded")
