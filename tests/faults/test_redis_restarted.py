"""Redis restarted while answers stream: a private ``redis-server`` (never the machine's) is
the channel layer and the gateway's shared state of two real Daphnes; it is killed mid-answer
and started again, empty, on the same port.

The answers go on meanwhile (the database, not Redis, is the source of truth), each is saved
once and whole; the pages reconnect and resume as docs/websocket.md says and end with the
whole text; and the web processes serve new chats and /v1 afterwards without a restart."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import aiohttp
import httpx
import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from tests.faults.conftest import WAIT, api_key, ask, eventually, session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("async_orm_closed"),
]

# About 8 s an answer: Redis restarts early in it, and a resume that comes before the answer
# listens again is asked again 2 s later (the socket's watch), well before its end.
SLOW = ("--tokens-per-second", "25", "--ttft-ms", "10", "--answer-tokens", "200")


@dataclass
class Page:
    """What the chat page keeps of one answer, and how it got there."""

    url: str
    cookie: str
    question: str
    answer: int | None = None
    conversation: int | None = None
    content: str = ""
    seq: int = 0
    final: dict | None = None
    reconnects: int = 0
    resumes: int = 0
    streaming: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Ask, then read to the end; on a closed socket reconnect (with backoff) and resume
        from the last seq applied; on a gap in the seqs, resume too."""
        headers = {"Origin": self.url, "Cookie": f"sessionid={self.cookie}"}
        ws_url = self.url.replace("http://", "ws://") + "/ws/chat/"
        async with aiohttp.ClientSession() as http, asyncio.timeout(WAIT * 3):
            ws = await http.ws_connect(ws_url, headers=headers)
            await ws.send_str(json.dumps({"type": "chat.send", "content": self.question}))
            while self.final is None:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    ws = await self.reconnect(http, ws_url, headers)
                    continue
                await self.apply(ws, json.loads(message.data))
            await ws.close()

    async def reconnect(self, http, ws_url, headers) -> aiohttp.ClientWebSocketResponse:
        self.reconnects += 1
        delay = 0.1
        while True:
            try:
                ws = await http.ws_connect(ws_url, headers=headers)
                break
            except aiohttp.ClientError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        await self.resume(ws)
        return ws

    async def resume(self, ws) -> None:
        self.resumes += 1
        frame = {"type": "chat.resume", "message": self.answer, "after_seq": self.seq}
        await ws.send_str(json.dumps(frame))

    async def apply(self, ws, frame: dict) -> None:
        kind = frame["type"]
        if kind == "message.created" and frame["message"]["role"] == "assistant":
            self.answer = frame["message"]["id"]
            self.conversation = frame["message"]["conversation"]
        elif frame.get("message") != self.answer:
            return
        elif kind == "message.delta":
            if frame["seq"] == self.seq + 1:
                self.content += frame["text"]
                self.seq = frame["seq"]
                if self.seq >= 3:
                    self.streaming.set()
            elif frame["seq"] > self.seq + 1:
                await self.resume(ws)  # frames were lost on the way
        elif kind == "message.snapshot":
            self.content, self.seq = frame["content"], frame["seq"]
        elif kind in {"message.done", "message.error"}:
            self.final = frame


async def saved_seq(message_id: int) -> int:
    return (await Message.objects.aget(pk=message_id)).last_seq


async def test_answers_survive_a_redis_restart_and_the_web_processes_recover(
    owner, emulators, daphnes, private_redis
):
    _, worker = emulators(*SLOW)
    env = {"REDIS_URL": private_redis.url}
    (_, first_url), (_, second_url) = (
        daphnes(workers=[worker], **env),
        daphnes(workers=[worker], **env),
    )
    cookie = await database_sync_to_async(session_cookie)(owner)
    token = await database_sync_to_async(api_key)(owner)
    pages = [
        Page(first_url, cookie, "What survives a restart?"),
        Page(second_url, cookie, "And what does not?"),
    ]
    running = [asyncio.create_task(page.run()) for page in pages]
    try:
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*(page.streaming.wait() for page in pages))
        private_redis.kill()
        # Without Redis the answers still go on, saved to the database.
        before = [await saved_seq(page.answer) for page in pages]
        for page, seq in zip(pages, before, strict=True):
            await eventually(
                lambda page=page, seq=seq: Message.objects.get(pk=page.answer).last_seq > seq,
                what="an answer saved while Redis is down",
            )
        private_redis.start()
        await asyncio.gather(*running)
    finally:
        for task in running:
            task.cancel()

    for page in pages:
        assert page.final is not None
        assert page.final["type"] == "message.done", page.final
        assert page.final["status"] == "complete"
        # The page built the whole text from snapshot and deltas, as the final frame says.
        assert page.content == page.final["content"]
        assert page.resumes >= 1  # it did have to catch up
        rows = [
            (m.role, m.status, m.content)
            async for m in Message.objects.filter(conversation_id=page.conversation).order_by("id")
        ]
        assert rows == [
            ("user", "complete", page.question),
            ("assistant", "complete", page.final["content"]),
        ]

    # Both web processes serve new chats without a restart; the same questions, asked anew,
    # get the same answers: those above are whole, not pieced together wrongly.
    fresh = await asyncio.gather(*(ask(page.url, cookie, page.question) for page in pages))
    for page, again in zip(pages, fresh, strict=True):
        assert (again["type"], again["status"]) == ("message.done", "complete")
        assert again["content"] == page.final["content"]
    # And the API.
    for url in (first_url, second_url):
        async with httpx.AsyncClient(timeout=WAIT) as client:
            response = await client.post(
                f"{url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "model": "aiportal-emulator",
                    "messages": [{"role": "user", "content": "Hi"}],
                    "max_tokens": 5,
                },
            )
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"]


async def test_a_spent_budget_stays_spent_after_a_redis_restart(
    owner, member, private_redis, settings
):
    """Budgets count in Redis; a restart empties it. The counters start again from the day's
    usage records, not from zero: a restart does not give everyone their budget back."""
    from django.contrib.auth.models import Group

    from gateway.admission import budget_add, budget_check, budget_used
    from gateway.callers import Caller, Limits
    from gateway.errors import OverBudget
    from gateway.models import UsageRecord

    settings.REDIS_URL = private_redis.url
    team = await Group.objects.acreate(name="team")
    await team.user_set.aadd(owner, member)

    async def used(user, tokens: int) -> None:
        # What the proxy writes for a finished request: the usage record, and the counters.
        await UsageRecord.objects.acreate(
            user=user,
            source="chat",
            outcome="complete",
            prompt_tokens=5,
            completion_tokens=tokens - 5,
        )

    await used(owner, 30)
    await used(member, 30)
    caller = Caller(user_id=owner.pk, group_ids=frozenset({team.pk}))
    mine, ours = Limits(daily_tokens=40), Limits(group_daily_tokens=((team.pk, 100),))
    await budget_check(caller, mine)  # 30 of 40
    await budget_add(caller, 15)
    await used(owner, 15)
    with pytest.raises(OverBudget):
        await budget_check(caller, mine)

    private_redis.restart()
    with pytest.raises(OverBudget):
        await budget_check(caller, mine)  # still spent: 45 from the records, not 0
    assert await budget_used(user_id=owner.pk) == 45
    await budget_check(caller, ours)  # the team: 75 of 100

    private_redis.restart()
    # A request that ends first after the restart, before any check, counts onto the day's
    # records (its own is written after its counters).
    await budget_add(caller, 30)
    assert await budget_used(user_id=owner.pk) == 75
    assert await budget_used(group_id=team.pk) == 105
    with pytest.raises(OverBudget, match="group"):
        await budget_check(Caller(user_id=member.pk, group_ids=frozenset({team.pk})), ours)
