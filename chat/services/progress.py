"""Saving the answers that stream in this process: one saver per event loop, not one per
answer.

Every ``AIPORTAL_SAVE_INTERVAL`` (and at least every ``STREAMING_HEARTBEAT``, the
heartbeat that tells a live answer from one whose process died) the saver takes every
answer that grew since its last save, or whose heartbeat is due, and writes them all with
one thread hop and one pipelined batch of UPDATEs (``message_save_progress_many``). A
hundred answers streaming in a process cost one wake-up and one round trip a tick, not a
hundred of each: per answer, that was a timer task, a thread hop and an ORM UPDATE compiled
anew every second (about 13 % of the web process's CPU per token at 100 streams,
bench/ws_fanout.py --py-spy).

The final save stays the generation's (``message_finish``): ``progress_forget`` first waits
for a batch in flight that holds the answer, so no progress save lands after it (and one
that did would change nothing: the UPDATE is filtered on ``streaming``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from chat.services.messages import STREAMING_HEARTBEAT, Progress, message_save_progress_many

logger = logging.getLogger(__name__)

# Not thread-sensitive: a batch is self-contained and safe on any thread (with its connection).
_db_save_many = database_sync_to_async(message_save_progress_many, thread_sensitive=False)


class Streaming(Protocol):
    """What the saver reads of a generation."""

    @property
    def message_id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def content(self) -> str: ...
    @property
    def reasoning(self) -> str: ...


@dataclass
class _Followed:
    answer: Streaming
    saved_seq: int
    last_write: float


class _Saver:
    def __init__(self) -> None:
        self.followed: dict[int, _Followed] = {}
        self.task: asyncio.Task[None] | None = None
        # The batch being written, and which answers it holds.
        self.writing: asyncio.Future[None] | None = None
        self.writing_ids: frozenset[int] = frozenset()

    async def run(self) -> None:
        while self.followed:
            await asyncio.sleep(min(settings.AIPORTAL_SAVE_INTERVAL, STREAMING_HEARTBEAT))
            await self.save_due()

    async def save_due(self) -> None:
        now = time.monotonic()
        interval = settings.AIPORTAL_SAVE_INTERVAL
        due = [
            followed
            for followed in self.followed.values()
            if (followed.answer.seq != followed.saved_seq and now - followed.last_write >= interval)
            or now - followed.last_write >= STREAMING_HEARTBEAT
        ]
        if not due:
            return
        rows = [
            Progress(
                message_id=f.answer.message_id,
                content=f.answer.content,
                reasoning=f.answer.reasoning,
                last_seq=f.answer.seq,
            )
            for f in due
        ]
        self.writing = asyncio.get_running_loop().create_future()
        self.writing_ids = frozenset(row.message_id for row in rows)
        try:
            await _db_save_many(rows)
        except Exception:
            # A database hiccup must not end any answer; the next tick tries again.
            logger.warning("saving %d streaming answers failed", len(rows), exc_info=True)
            return
        finally:
            self.writing.set_result(None)
            self.writing, self.writing_ids = None, frozenset()
        for followed, row in zip(due, rows, strict=True):
            followed.saved_seq, followed.last_write = row.last_seq, now


_savers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Saver] = weakref.WeakKeyDictionary()


def _saver() -> _Saver:
    loop = asyncio.get_running_loop()
    saver = _savers.get(loop)
    if saver is None:
        saver = _savers[loop] = _Saver()
    return saver


def progress_follow(answer: Streaming) -> None:
    """Save ``answer`` as it grows, from now until ``progress_forget``."""
    saver = _saver()
    saver.followed[answer.message_id] = _Followed(
        answer=answer, saved_seq=answer.seq, last_write=time.monotonic()
    )
    if saver.task is None or saver.task.done():
        saver.task = asyncio.create_task(saver.run(), name="chat-progress-saver")


async def progress_forget(answer: Streaming) -> None:
    """Stop saving ``answer``; returns once no batch holding it is still being written."""
    saver = _saver()
    followed = saver.followed.get(answer.message_id)
    if followed is not None and followed.answer is answer:
        del saver.followed[answer.message_id]
    writing = saver.writing
    if writing is not None and answer.message_id in saver.writing_ids:
        with contextlib.suppress(Exception):
            await asyncio.shield(writing)
