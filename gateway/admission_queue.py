"""A fair queue for requests that find every allowed worker saturated.

Each user has a FIFO of waiting requests; the users take turns (round-robin), so one user
with fifty queued requests does not starve another with one. A request leaves the queue
when it is its turn and its own workers have room again (``has_capacity``: requests for
different models or regions wait for different workers), or with ``RateLimited`` after
``AIPORTAL_QUEUE_TIMEOUT``.

Room is noticed two ways: at once when a stream of this process ends (``queue_notify``), and
by polling the pool snapshot every ``POLL_SECONDS`` (streams of other processes, workers'
own queues). After letting one request in, the dispatcher waits for the next signal before
letting in another, so that the one admitted shows in the load figures first.

The queue lives in one process (per event loop): fairness is exact within a process and
approximate across web processes, each of which takes turns among its own waiters.

State: ``_queues``, the fair queue per event loop, which ends with its loop; never reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.errors import RateLimited

POLL_SECONDS = 0.05


@dataclass(eq=False, slots=True)
class _Waiter:
    has_capacity: Callable[[], Awaitable[bool]]
    admitted: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class FairQueue:
    def __init__(self) -> None:
        self._users: dict[str, deque[_Waiter]] = {}  # insertion order is the turn order
        self._signal = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(len(waiters) for waiters in self._users.values())

    async def wait(
        self, *, user_key: str, has_capacity: Callable[[], Awaitable[bool]], wait_for: float
    ) -> None:
        """Return when it is this request's turn and it has room; RateLimited after
        ``wait_for`` seconds."""
        waiter = _Waiter(has_capacity)
        self._users.setdefault(user_key, deque()).append(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._dispatch())
        self._signal.set()
        try:
            async with asyncio.timeout(wait_for):
                await waiter.admitted
        except TimeoutError:
            raise RateLimited(
                max(1.0, wait_for),
                "Every model worker you may use is busy. Try again shortly.",
            ) from None
        finally:
            self._forget(user_key, waiter)

    def notify(self) -> None:
        """A stream of this process ended: a worker may have room."""
        self._signal.set()

    def _forget(self, user_key: str, waiter: _Waiter) -> None:
        waiters = self._users.get(user_key)
        if waiters is not None:
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)
            if not waiters:
                del self._users[user_key]

    async def _dispatch(self) -> None:
        while self._users:
            self._signal.clear()
            if not await self._admit_one():
                # Nobody had room: wait for a stream to end, or poll.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._signal.wait(), POLL_SECONDS)
                continue
            # Someone got in: let it show in the load before the next turn.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signal.wait(), POLL_SECONDS)

    async def _admit_one(self) -> bool:
        for user_key in list(self._users):
            waiters = self._users.get(user_key)
            if not waiters:
                continue
            head = waiters[0]
            if head.admitted.done():  # timed out or cancelled, on its way out
                waiters.popleft()
                continue
            if not await head.has_capacity():
                continue
            if head.admitted.done() or not waiters or waiters[0] is not head:
                continue  # it left while we looked
            waiters.popleft()
            head.admitted.set_result(None)
            # This user's turn is over: to the back of the line.
            del self._users[user_key]
            if waiters:
                self._users[user_key] = waiters
            return True
        return False


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FairQueue] = (
    weakref.WeakKeyDictionary()
)


def fair_queue() -> FairQueue:
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = FairQueue()
    return queue


def queue_notify() -> None:
    queue = _queues.get(asyncio.get_running_loop())
    if queue is not None:
        queue.notify()
