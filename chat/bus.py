"""How a conversation's frames reach its sockets: in memory to the sockets of this process,
and through one Redis publish to the other processes (docs/chat.md, "How a delta travels").

A frame is encoded once by its publisher (``chat.protocol``) and the same text goes to every
socket. The sockets of this process showing the conversation get it at once, from the
publishing task itself: no channel layer, no thread hop, no Redis round trip. With
``REDIS_URL`` set, the text is also published once on the conversation's Redis pub/sub
channel; each other process that has a socket on the conversation holds one subscription
to it (one pub/sub connection per process for all its conversations), decodes the message
once and hands it to its sockets. Every message says which process sent it, so the
publisher ignores its own. Without ``REDIS_URL`` (the embedded default, one process) only the
local delivery runs.

A delta goes to Redis only while another process may be listening. The publish's reply says
how many connections heard it; while that count says nobody but this process follows the
conversation, its deltas stay in memory. To look again, the process's prober asks Redis once
each ``PROBE_INTERVAL`` (``PUBSUB NUMSUB``, one command for every conversation the process
streams deltas in, not one publish per conversation); when the count grows, the next delta
is published. A tab that opens on another process asks to resume the streaming answer
(``bus_listeners_changed``: published at once), or sees a gap in the seqs once the prober
has seen it and asks then; every other frame (an answer created, done, a snapshot for one
socket elsewhere) is always published. With one tab per conversation, the usual case, a
delta costs no Redis round trip.

Control travels here too: a stop or a resume for an answer (``bus_control_send``) goes in
memory to its generation when this process runs it, and otherwise through one pub/sub channel
that every process listens on; stops and resumes are a person's clicks and page loads, rare
next to deltas, so each process hearing all of them costs nothing, and an answer needs no
channel or subscription of its own.

Pub/sub is best effort, like the channel layer it replaces: a message published while the
listener is reconnecting (Redis restarted) is lost. The sockets recover: the page asks to
resume on a gap in the seqs, and a resume's snapshot travels on this same ordered path
(``to``: one socket), so a snapshot up to seq N is followed by exactly the deltas after N.

An idle socket costs nothing here: it is in the registry only for the conversations it
shows, and the process's one listener serves all of them.

State: per event loop (Daphne's one loop; each test's own), the sockets subscribed per
conversation (weakly held: a consumer that died without leaving does not stay), the pub/sub
connection and the task that listens on it, the subscriptions waiting for Redis's
confirmation, what the last publish per conversation said about other listeners, and the
control handlers of the generations this process runs (``_buses``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from django.conf import settings
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

logger = logging.getLogger(__name__)

# Who published a message: the listener drops its own process's messages (already delivered).
ORIGIN = uuid.uuid4().hex
# How long joining waits for Redis to confirm a subscription: a resume asked before it would
# be answered on a channel this process does not hear yet. Past it (Redis down) the socket
# goes on and the watch on a resume asks again.
SUBSCRIBE_WAIT = 2.0
# After the pub/sub connection fails, listen again after this many seconds, doubling up to
# the maximum while the failures go on.
LISTEN_RETRY = 0.1
LISTEN_RETRY_MAX = 2.0
# While no other process follows a conversation, its deltas stay in memory; at most this many
# seconds pass before the process learns that another one listens now (the prober's period).
PROBE_INTERVAL = 1.0

# What a generation is told: a stop, a resume, or its own end (chat.protocol builds them).
ControlHandler = Callable[[dict[str, Any]], None]


class Subscriber(Protocol):
    """A socket of this process (``ChatConsumer``)."""

    @property
    def bus_address(self) -> str:
        """What a message meant for this socket alone names (``to``)."""
        ...

    async def bus_receive(self, frame: Mapping[str, Any], text: str) -> None:
        """A frame of a conversation it joined, decoded and as JSON text."""
        ...


class _Bus:
    def __init__(self) -> None:
        self.sockets: dict[int, weakref.WeakValueDictionary[str, Subscriber]] = {}
        self.client: Redis | None = None
        self.pubsub: PubSub | None = None
        self.listener: asyncio.Task[None] | None = None
        self.confirming: dict[str, asyncio.Future[None]] = {}
        # Per conversation: how many other processes the last publish or probe counted, and
        # when; when a delta last went out (the prober's list), and when another
        # process last asked to follow (a probe sent before that must not count).
        self.others: dict[int, tuple[int, float]] = {}
        self.streaming: dict[int, float] = {}
        self.changed: dict[int, float] = {}
        self.prober: asyncio.Task[None] | None = None
        # The generations of this process, by answer id, and the control channel's confirmation.
        self.controls: dict[int, ControlHandler] = {}
        self.control_ready: asyncio.Future[None] | None = None


_buses: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Bus] = weakref.WeakKeyDictionary()


# The last loop's bus: one lookup per frame published, without the weak dictionary's own
# cost (a process has one loop; tests, one per test).
_current: tuple[weakref.ref[asyncio.AbstractEventLoop], _Bus] | None = None


def _bus() -> _Bus:
    global _current
    loop = asyncio.get_running_loop()
    if _current is not None and _current[0]() is loop:
        return _current[1]
    bus = _buses.get(loop)
    if bus is None:
        bus = _buses[loop] = _Bus()
    _current = (weakref.ref(loop), bus)
    return bus


def bus_channel(conversation_id: int) -> str:
    """The conversation's pub/sub channel. Pub/sub ignores Redis's database numbers: the
    prefix keeps deployments (and test runs) sharing a Redis apart."""
    return f"{settings.REDIS_PREFIX}:chat:conversation:{conversation_id}"


def control_channel() -> str:
    """The one channel of stops and resumes, which every process listens on."""
    return f"{settings.REDIS_PREFIX}:chat:control"


def _conversation_of(channel: str) -> int:
    return int(channel.rsplit(":", 1)[1])


def _client(bus: _Bus) -> Redis:
    if bus.client is None:
        # A publish that meets a dead pooled connection (Redis restarted) is retried on a new
        # one; a frame published twice is harmless (the page drops a seq it has).
        bus.client = Redis.from_url(
            settings.REDIS_URL, retry=Retry(ExponentialBackoff(cap=0.2, base=0.1), 2)
        )
    return bus.client


async def bus_join(*, conversation_id: int, subscriber: Subscriber) -> None:
    """Deliver the conversation's frames to ``subscriber`` from now on. The first socket of
    the process on a conversation subscribes to its channel, and returns once Redis has
    confirmed (or after ``SUBSCRIBE_WAIT``)."""
    bus = _bus()
    sockets = bus.sockets.get(conversation_id)
    first = not sockets
    if sockets is None:
        sockets = bus.sockets[conversation_id] = weakref.WeakValueDictionary()
    sockets[subscriber.bus_address] = subscriber
    if not settings.REDIS_URL:
        return
    channel = bus_channel(conversation_id)
    confirmed = bus.confirming.get(channel)
    if not first and confirmed is None:
        return  # subscribed already
    if bus.listener is None or bus.listener.done():
        bus.listener = asyncio.create_task(_listen(bus), name="chat-bus-listener")
    try:
        if confirmed is None:
            confirmed = bus.confirming[channel] = asyncio.get_running_loop().create_future()
            # While the listener connects, it subscribes to every conversation itself.
            if bus.pubsub is not None:
                await bus.pubsub.subscribe(channel)
        # A second socket joining meanwhile waits for the same confirmation.
        async with asyncio.timeout(SUBSCRIBE_WAIT):
            await asyncio.shield(confirmed)
    except Exception:
        # Redis down: the listener subscribes again to every conversation once it is back;
        # the sockets that join until then need not wait.
        logger.warning("could not subscribe to %s yet", channel, exc_info=True)
        if bus.confirming.get(channel) is confirmed:
            del bus.confirming[channel]


async def bus_leave(*, conversation_id: int, subscriber: Subscriber) -> None:
    """No more frames of the conversation for ``subscriber``; the last socket of the
    process on it unsubscribes."""
    bus = _bus()
    sockets = bus.sockets.get(conversation_id)
    if sockets is None:
        return
    sockets.pop(subscriber.bus_address, None)
    if not sockets:
        await _forget(bus, conversation_id)


async def _forget(bus: _Bus, conversation_id: int) -> None:
    bus.sockets.pop(conversation_id, None)
    bus.others.pop(conversation_id, None)
    bus.changed.pop(conversation_id, None)
    bus.confirming.pop(bus_channel(conversation_id), None)
    if bus.pubsub is not None:
        with contextlib.suppress(Exception):
            await bus.pubsub.unsubscribe(bus_channel(conversation_id))


async def bus_publish(
    *,
    conversation_id: int,
    frame: Mapping[str, Any],
    text: str,
    to: str | None = None,
    recoverable: bool = False,
) -> None:
    """Deliver a frame to every socket on the conversation (``to``: to that socket alone),
    in this process and, with Redis, in every other. A ``recoverable`` frame (a delta: a
    resume brings back what a socket missed) skips Redis while no other process listens.
    Raises what Redis raises, after the local delivery: the callers decide whether a lost
    frame matters."""
    bus = _bus()
    delivered = await _deliver(bus, conversation_id, frame, text, to)
    if not settings.REDIS_URL or (to is not None and delivered):
        return
    if recoverable and to is None:
        _streams_deltas(bus, conversation_id)
        if _alone(bus, conversation_id):
            return
    payload = f"{ORIGIN}\n{to or ''}\n{text}"
    heard = await _client(bus).publish(bus_channel(conversation_id), payload)
    if to is None:
        bus.others[conversation_id] = (
            max(int(heard) - _ours(bus, conversation_id), 0),
            time.monotonic(),
        )


def _ours(bus: _Bus, conversation_id: int) -> int:
    """Whether this process's own subscription is among Redis's count for the conversation:
    when Redis confirmed it (and the connection has not failed since)."""
    return int(
        conversation_id in bus.sockets
        and bus_channel(conversation_id) not in bus.confirming
        and bus.pubsub is not None
        and bus.control_ready is not None
        and bus.control_ready.done()
    )


def _streams_deltas(bus: _Bus, conversation_id: int) -> None:
    """The conversation has deltas going out from this process: keep its count fresh."""
    bus.streaming[conversation_id] = time.monotonic()
    if bus.prober is None or bus.prober.done():
        bus.prober = asyncio.create_task(_probe(bus), name="chat-bus-prober")


async def _probe(bus: _Bus) -> None:
    """While the process streams deltas: twice each ``PROBE_INTERVAL`` (so that a count never
    ages out between two probes, even on a busy loop), one ``PUBSUB NUMSUB`` for all those
    conversations counts who else listens. Ends when no delta went out for two periods."""
    while True:
        await asyncio.sleep(PROBE_INTERVAL / 2)
        started = time.monotonic()
        for conversation_id, last in list(bus.streaming.items()):
            if started - last > 2 * PROBE_INTERVAL:
                del bus.streaming[conversation_id]
                bus.changed.pop(conversation_id, None)
        if not bus.streaming:
            return
        conversations = list(bus.streaming)
        try:
            counts = await _client(bus).pubsub_numsub(*map(bus_channel, conversations))
        except Exception:
            # Unknown: the counts age out and the next deltas are published (and counted).
            logger.debug("counting the chat's listeners failed", exc_info=True)
            continue
        for conversation_id, (_, count) in zip(conversations, counts, strict=True):
            if bus.changed.get(conversation_id, -math.inf) >= started:
                continue  # another process asked to follow meanwhile: publish and count
            bus.others[conversation_id] = (
                max(int(count) - _ours(bus, conversation_id), 0),
                started,
            )


def _alone(bus: _Bus, conversation_id: int) -> bool:
    """Whether the last publish or probe, not long ago, counted no other process."""
    known = bus.others.get(conversation_id)
    return known is not None and known[0] == 0 and time.monotonic() - known[1] < PROBE_INTERVAL


def bus_listeners_changed(conversation_id: int) -> None:
    """Another process may follow the conversation now (a socket asked to resume): publish
    its next delta, and learn again from the reply."""
    bus = _bus()
    bus.others.pop(conversation_id, None)
    bus.changed[conversation_id] = time.monotonic()


async def _deliver(
    bus: _Bus, conversation_id: int, frame: Mapping[str, Any], text: str, to: str | None
) -> bool:
    """Hand the frame to this process's sockets on the conversation; whether any had it."""
    sockets = bus.sockets.get(conversation_id)
    if sockets is None:
        return False
    if to is not None:
        targets = [s for s in [sockets.get(to)] if s is not None]
    else:
        targets = list(sockets.values())
    if not targets and not sockets:
        await _forget(bus, conversation_id)  # its sockets died without leaving
        return False
    for subscriber in targets:
        try:
            await subscriber.bus_receive(frame, text)
        except Exception:
            # One broken socket must not cost the others their frame.
            logger.warning("delivering to %s failed", subscriber.bus_address, exc_info=True)
    return bool(targets)


# --- Control: stops and resumes ----------------------------------------------------------------


def bus_control_register(message_id: int, handler: ControlHandler) -> None:
    """``handler`` hears the stops and resumes of answer ``message_id``, from any process,
    until ``bus_control_unregister``. It is called on the event loop and must not block."""
    _bus().controls[message_id] = handler


def bus_control_unregister(message_id: int, handler: ControlHandler) -> None:
    controls = _bus().controls
    if controls.get(message_id) is handler:
        del controls[message_id]


async def bus_control_ready() -> None:
    """Listen on the control channel (once per process): returns when Redis has confirmed it,
    or after ``SUBSCRIBE_WAIT`` (Redis down: the listener subscribes once it is back, and a
    stop is asked again until the answer ends)."""
    if not settings.REDIS_URL:
        return
    bus = _bus()
    if bus.control_ready is None:
        bus.control_ready = asyncio.get_running_loop().create_future()
    if bus.listener is None or bus.listener.done():
        bus.listener = asyncio.create_task(_listen(bus), name="chat-bus-listener")
    if bus.control_ready.done():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SUBSCRIBE_WAIT):
            await asyncio.shield(bus.control_ready)


async def bus_control_send(message_id: int, event: dict[str, Any]) -> None:
    """Tell the generation of ``message_id`` (a stop, a resume), wherever it runs: in memory
    when it runs here, else one publish that every process hears. Best effort: nobody may be
    running it any more; the sockets ask again while the answer's row says it streams."""
    bus = _bus()
    handler = bus.controls.get(message_id)
    if handler is not None:
        handler(event)
        return
    if settings.REDIS_URL:
        await _client(bus).publish(
            control_channel(), f"{ORIGIN}\n{message_id}\n{json.dumps(event)}"
        )


def _control_handle(bus: _Bus, data: str) -> None:
    origin, message_id, text = data.split("\n", 2)
    if origin == ORIGIN:
        return  # sent here because no generation of this process had it
    handler = bus.controls.get(int(message_id))
    if handler is not None:
        event = json.loads(text)
        if isinstance(event, dict):
            handler(event)


async def _listen(bus: _Bus) -> None:
    """The process's one pub/sub connection: (re)connect, subscribe to every conversation
    its sockets show, hand each message to them; on a failure, again after a backoff."""
    failures = 0
    while True:
        pubsub = _client(bus).pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it bare
            # Before listing the conversations: a socket that joins meanwhile subscribes
            # itself (twice is harmless), none is missed.
            bus.pubsub = pubsub
            channels = [bus_channel(c) for c in bus.sockets]
            await pubsub.subscribe(control_channel(), *channels)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    failures = 0
                    await _handle(bus, message)
        except asyncio.CancelledError:
            raise
        except Exception:
            failures += 1
            logger.warning(
                "the chat's pub/sub connection failed (%d); listening again",
                failures,
                exc_info=failures == 1,
            )
        finally:
            bus.pubsub = None
            # Not subscribed any more: what publishes count is unknown until Redis confirms
            # the subscriptions again.
            if bus.control_ready is not None and bus.control_ready.done():
                bus.control_ready = asyncio.get_running_loop().create_future()
            bus.others.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        await asyncio.sleep(min(LISTEN_RETRY * 2 ** (failures - 1), LISTEN_RETRY_MAX))


async def _handle(bus: _Bus, message: Mapping[str, Any]) -> None:
    channel = message["channel"]
    if isinstance(channel, bytes):
        channel = channel.decode()
    if message["type"] == "subscribe":
        if channel == control_channel():
            if bus.control_ready is None:
                bus.control_ready = asyncio.get_running_loop().create_future()
            if not bus.control_ready.done():
                bus.control_ready.set_result(None)
            return
        confirmed = bus.confirming.pop(channel, None)
        if confirmed is not None and not confirmed.done():
            confirmed.set_result(None)
        return
    if message["type"] != "message":
        return
    data = message["data"]
    if channel == control_channel():
        try:
            _control_handle(bus, data.decode() if isinstance(data, bytes) else data)
        except ValueError:
            logger.warning("a malformed control message was dropped")
        return
    try:
        origin, to, text = (data.decode() if isinstance(data, bytes) else data).split("\n", 2)
        if origin == ORIGIN:
            return  # delivered in memory when it was published
        conversation_id = _conversation_of(channel)
        if conversation_id not in bus.sockets:
            return
        # One decode per message and process, whatever the number of its sockets.
        frame = json.loads(text)
    except ValueError:
        logger.warning("a malformed message on %s was dropped", channel)
        return
    await _deliver(bus, conversation_id, frame, text, to or None)


def bus_sockets(conversation_id: int) -> int:
    """How many sockets of this process (this loop) follow the conversation."""
    sockets = _bus().sockets.get(conversation_id)
    return len(sockets) if sockets is not None else 0


def bus_conversations() -> set[int]:
    """The conversations this process (this loop) follows: empty when no socket shows one."""
    return set(_bus().sockets)


def bus_subscribed() -> set[str]:
    """The channels of the pub/sub connection, as redis-py tracks them."""
    pubsub = _bus().pubsub
    if pubsub is None:
        return set()
    return {c.decode() if isinstance(c, bytes) else c for c in pubsub.channels}
