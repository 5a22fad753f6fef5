"""Generation of an answer, decoupled from the socket that asked for it.

Each answer runs as an asyncio task of the web process (kept referenced in ``_tasks`` so the
event loop does not drop it). It outlives the socket: a closed tab does not stop it, the
answer is still saved completely. The task

- publishes every frame (``message.created``, ``message.delta`` with ``seq``, ``message.done``
  or ``message.error``, built by ``chat.protocol``) to its conversation (``chat.bus``): in
  memory to the sockets of this process showing it, one Redis publish for the other
  processes; tokens that arrive within
  ``DELTA_INTERVAL`` of each other share one delta; a reasoning model's thinking travels in
  the same deltas as ``reasoning``, apart from the answer's ``text``;
- has the growing answer saved by the process's one saver (``chat.services.progress``): at
  most once per ``AIPORTAL_SAVE_INTERVAL``, batched with every other answer of the process,
  and at least every ``STREAMING_HEARTBEAT`` seconds even when nothing arrives, so that a
  message whose generator died can be told apart (``services.message_interrupt_stale``);
  the final save, once at the end, is its own;
- hears its control through ``chat.bus`` (in memory from this process's sockets, one pub/sub
  channel from the others'): a socket in any process stops it (``generation_stop``) or asks
  to catch up (``generation_resume``).

Stopping cancels the task that iterates the gateway's stream, which closes the upstream
connection at once: that is what makes vLLM abort the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from chat import bus, protocol
from chat.models import Message
from chat.selectors import message_payload
from chat.services import progress
from chat.services.conversations import conversation_title_generate
from chat.services.messages import message_finish
from chat.visibility import user_is_staff
from gateway import (
    Delta,
    Finished,
    GatewayError,
    ModelForbidden,
    ModelUnavailable,
    NoWorkers,
    OverBudget,
    RateLimited,
    RegionUnavailable,
    Sampling,
    Thinking,
    WorkersBusy,
    chat_stream,
)

logger = logging.getLogger(__name__)

# Tokens that arrive within this many seconds of the last delta go out together as the next
# one: a fraction of the publishes (and of browser re-renders), with no delay a
# reader could see. The first token is always sent at once.
DELTA_INTERVAL = 0.03
_tasks: set[asyncio.Task[None]] = set()

# Not thread-sensitive: by default every such call in the process would queue for one
# shared thread, and a few hundred streams saving twice a second would wait on each other.
# Each call is a self-contained UPDATE, safe on any thread (with that thread's connection).
_db_finish = database_sync_to_async(message_finish, thread_sensitive=False)


def generation_tasks() -> set[asyncio.Task[None]]:
    """The generations running in this process (tests await them; shutdown could too)."""
    return set(_tasks)


@dataclass
class _Outcome:
    status: str
    usage: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    detail: str = ""
    # Extra fields of the error frame: resets_at, retry_after (docs/websocket.md).
    extra: protocol.ErrorExtra = field(default_factory=lambda: protocol.ErrorExtra())


def error_outcome(exc: GatewayError, *, status: str) -> _Outcome:
    """The chat's view of a gateway error: a stable code with what the page needs to say
    something specific (when a budget resets, when to retry). An unknown model, a model the
    user may not use and a pool with no healthy worker all read ``model_unavailable`` with
    the same detail, so that the answer does not tell which models exist."""
    if isinstance(exc, (ModelForbidden, ModelUnavailable, NoWorkers)) or (
        exc.code == "model_unavailable"
    ):
        return _Outcome(
            status=status,
            code="model_unavailable",
            detail="This model is not available right now.",
        )
    if isinstance(exc, OverBudget):
        return _Outcome(
            status=status,
            code=exc.code,
            detail=exc.detail,
            extra={"resets_at": exc.resets_at.isoformat()},
        )
    if isinstance(exc, RateLimited | WorkersBusy):
        return _Outcome(
            status=status,
            code=exc.code,
            detail=exc.detail,
            extra={"retry_after": math.ceil(exc.retry_after)},
        )
    return _Outcome(status=status, code=exc.code, detail=exc.detail)


@dataclass
class Generation:
    message: dict[str, Any]  # the assistant message's payload, as first published
    context: list[dict[str, str]]
    model: str | None
    client_id: str | None = None
    # Who asked: the gateway applies their model access, residency, limits and budget.
    user: Any = None
    # A continuation (chat.continue) goes on from the saved text: its deltas are numbered
    # after ``base_seq`` and the answer is ``base_content`` + the new text.
    base_content: str = ""
    base_reasoning: str = ""
    base_seq: int = 0
    base_usage: dict[str, Any] = field(default_factory=dict)
    # The conversation's datasets: where it may be answered (None: anywhere the user may),
    # and the passages the answer may cite ([n] in its text), kept in its metrics.
    allowed_regions: frozenset[str] | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    # The conversation's assistant's temperature/top_p and answer length (None: defaults).
    sampling: Sampling | None = None
    max_tokens: int | None = None
    chunks: list[str] = field(default_factory=list)  # the new deltas; seq = base_seq + index + 1
    pending: list[str] = field(default_factory=list)  # received, not yet published
    # A reasoning model's thinking: published (one entry per delta, "" when none) and pending.
    thoughts: list[str] = field(default_factory=list)
    pending_thought: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Stops, resumes and its own end, as ``chat.bus`` hands them over (``_control``).
    controls: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    closing: bool = False
    started: float = field(default_factory=time.monotonic)
    ttft_ms: int | None = None
    # Held while publishing a delta and while answering a resume, so that a resuming socket
    # gets a snapshot up to seq N and then exactly the deltas after N.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set once the outcome is decided and being written: an answer ends once, whatever fails
    # afterwards (a complete answer must never be rewritten as an error by its cleanup).
    ended: bool = False

    @property
    def message_id(self) -> int:
        return self.message["id"]

    @property
    def conversation_id(self) -> int:
        return int(self.message["conversation"])

    @property
    def seq(self) -> int:
        return self.base_seq + len(self.chunks)

    @property
    def content(self) -> str:
        return self.base_content + "".join(self.chunks)

    @property
    def reasoning(self) -> str:
        return self.base_reasoning + "".join(self.thoughts)

    @property
    def continuing(self) -> bool:
        return bool(self.base_content)

    async def run(self) -> None:
        stream = control = publisher = None
        try:
            await self._publish(
                protocol.message_created_frame(message=self.message, client_id=self.client_id)
            )
            stream = asyncio.create_task(self._stream())
            control = asyncio.create_task(self._control())
            progress.progress_follow(self)
            publisher = asyncio.create_task(self._publish_deltas())
            await asyncio.wait({stream, control}, return_when=asyncio.FIRST_COMPLETED)
            if stream.done():
                outcome = stream.result()
            else:
                # Stopped: cancelling the iterating task closes the upstream response now.
                stream.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stream
                outcome = _Outcome(status=Message.Status.STOPPED)
            # Publish what is still pending: whatever arrived is part of the answer.
            self.closing = True
            self.wake.set()
            await publisher
            await progress.progress_forget(self)
            await self._finish(outcome)
            # Resumes that arrived meanwhile are answered first (the queue is in order).
            self.controls.put_nowait(protocol.generation_end_event())
            await control
            if outcome.status == Message.Status.COMPLETE:
                # After message.done went out, so a title never delays an answer.
                await conversation_title_generate(message_id=self.message_id, user=self.user)
        except asyncio.CancelledError:
            # The process is shutting down. Say so if the database still answers; if not,
            # the stale sweep will mark the message interrupted.
            if not self.ended:
                with contextlib.suppress(Exception):
                    await self._finish(_Outcome(status=Message.Status.INTERRUPTED))
            raise
        except Exception:
            logger.exception("generation of message %s failed", self.message_id)
            if self.ended:
                return  # it did end, and said so: a failure in the cleanup changes nothing
            with contextlib.suppress(Exception):
                await self._finish(
                    _Outcome(
                        status=Message.Status.ERROR,
                        code="internal_error",
                        detail="The answer failed unexpectedly.",
                    )
                )
        finally:
            bus.bus_control_unregister(self.message_id, self.controls.put_nowait)
            with contextlib.suppress(Exception):
                await progress.progress_forget(self)
            for task in (stream, control, publisher):
                if task is not None and not task.done():
                    task.cancel()

    async def _stream(self) -> _Outcome:
        try:
            messages = self.context
            if self.continuing:
                # The partial answer as the final assistant message, which vLLM extends.
                # Its thinking goes beside it as vLLM's "reasoning", never into the text.
                final = {"role": "assistant", "content": self.base_content}
                if self.base_reasoning:
                    final["reasoning"] = self.base_reasoning
                messages = [*messages, final]
            items = chat_stream(
                messages=messages,
                model=self.model or None,
                user=self.user,
                # Keeps the conversation on one worker, so vLLM reuses its prefix cache.
                conversation_key=f"conversation:{self.message['conversation']}",
                continue_final=self.continuing,
                allowed_regions=self.allowed_regions,
                sampling=self.sampling,
                max_tokens=self.max_tokens,
            )
            async with contextlib.aclosing(items):
                async for item in items:
                    if isinstance(item, Thinking):
                        if self.ttft_ms is None:
                            self.ttft_ms = round((time.monotonic() - self.started) * 1000)
                        self.pending_thought.append(item.text)
                        self.wake.set()
                    elif isinstance(item, Delta):
                        if self.ttft_ms is None:
                            self.ttft_ms = round((time.monotonic() - self.started) * 1000)
                        self.pending.append(item.text)
                        self.wake.set()
                    elif isinstance(item, Finished):
                        return _Outcome(
                            status=Message.Status.COMPLETE,
                            usage=item.usage,
                            metrics=item.metrics,
                        )
        except GatewayError as exc:
            # An answer that broke off after some text, with no worker left to continue it,
            # keeps that text and is "interrupted" (it can be continued), not failed; so is
            # a continuation that could not start (its earlier text is still there).
            broke_off = getattr(exc, "partial", False) and (
                self.chunks + self.pending + self.pending_thought or self.reasoning
            )
            status = (
                Message.Status.INTERRUPTED if broke_off or self.continuing else Message.Status.ERROR
            )
            if self.allowed_regions is not None and isinstance(exc, RegionUnavailable):
                # Say why: the person can act on this one (choose other datasets).
                return _Outcome(
                    status=status,
                    code="region_unavailable",
                    detail="No worker is available in the regions the datasets of this "
                    "conversation allow"
                    + (
                        f" ({', '.join(sorted(self.allowed_regions))})."
                        if self.allowed_regions
                        else ": they have no region in common."
                    ),
                )
            return error_outcome(exc, status=status)
        except Exception:
            logger.exception("streaming message %s failed", self.message_id)
            return _Outcome(
                status=Message.Status.ERROR,
                code="internal_error",
                detail="The answer failed unexpectedly.",
            )
        return _Outcome(
            status=Message.Status.ERROR,
            code="upstream_failed",
            detail="The answer ended without finishing.",
        )

    async def _publish_deltas(self) -> None:
        """Publish pending text as one delta; tokens that come within ``DELTA_INTERVAL`` of
        the last delta gather for the rest of it. A token that comes later goes out as it
        arrives: no timer per delta when the worker is slower than the interval."""
        loop = asyncio.get_running_loop()
        last = -DELTA_INTERVAL
        while True:
            await self.wake.wait()
            self.wake.clear()
            gather = last + DELTA_INTERVAL - loop.time()
            if gather > 0 and not self.closing:
                await asyncio.sleep(gather)
                self.wake.clear()  # what arrived meanwhile goes in this delta
            await self._publish_pending()
            last = loop.time()
            if self.closing:
                # Every token arrived before ``closing`` was set: this flush has them all.
                await self._publish_pending()
                return

    async def _publish_pending(self) -> None:
        if not self.pending and not self.pending_thought:
            return
        async with self.lock:
            text = "".join(self.pending)
            thought = "".join(self.pending_thought)
            self.pending.clear()
            self.pending_thought.clear()
            self.chunks.append(text)
            self.thoughts.append(thought)
            await self._publish(
                protocol.message_delta_frame(
                    message=self.message_id, seq=self.seq, text=text, reasoning=thought
                ),
                recoverable=True,
            )

    async def _control(self) -> None:
        """Returns when asked to stop (or told the generation ended); answers resume requests
        meanwhile."""
        while True:
            event = await self.controls.get()
            logger.debug("generation of message %s got %s", self.message_id, event.get("type"))
            if event.get("type") in {"generation.stop", "generation.end"}:
                return
            if event.get("type") == "generation.resume":
                await self._resume(event)

    async def _resume(self, event: dict[str, Any]) -> None:
        """Bring one socket up to date: a snapshot up to seq N, then ``chat.resumed``, on
        the conversation's ordered path and under the lock that publishing a delta takes, so
        that the deltas after them are exactly those after N. The socket joined the
        conversation before asking, and drops this answer's deltas until ``chat.resumed``."""
        reply_channel = event["reply_channel"]
        # The socket may be another process's: its deltas go through Redis again from now on.
        bus.bus_listeners_changed(self.conversation_id)
        async with self.lock:
            try:
                if int(event.get("after_seq", 0)) < self.seq:
                    snapshot = protocol.message_snapshot_frame(
                        message=self.message_id,
                        seq=self.seq,
                        content=self.content,
                        reasoning=self.reasoning,
                        status=Message.Status.STREAMING,
                    )
                    await protocol.frame_send(
                        conversation_id=self.conversation_id, to=reply_channel, frame=snapshot
                    )
                # Tells the socket that this generation is alive (see ChatConsumer.watch).
                await protocol.frame_send(
                    conversation_id=self.conversation_id,
                    to=reply_channel,
                    frame=protocol.resumed_event(message_id=self.message_id),
                )
            except Exception:
                logger.warning(
                    "could not resume message %s for %s",
                    self.message_id,
                    reply_channel,
                    exc_info=True,
                )

    async def _finish(self, outcome: _Outcome) -> None:
        metrics = dict(outcome.metrics)
        if self.ttft_ms is not None:
            metrics.setdefault("ttft_ms", self.ttft_ms)
        # With usage's completion_tokens, what the answer's details turn into tokens/s.
        metrics.setdefault("duration_ms", round((time.monotonic() - self.started) * 1000))
        usage = _usage_sum(self.base_usage, outcome.usage) if self.continuing else outcome.usage
        # Over this part's own tokens and generation time (the gateway's, without the wait
        # for a stalled worker): the speed a reader can compare, not the wall clock.
        speed = _tokens_per_second(outcome.usage, metrics.get("generation_ms"))
        if speed is not None:
            metrics["tokens_per_second"] = speed
        if self.continuing:
            metrics["continued_by_user"] = True
        if self.citations:
            metrics["citations"] = self.citations
        content = self.content
        self.ended = True
        try:
            await _db_finish(
                message_id=self.message_id,
                content=content,
                reasoning=self.reasoning,
                last_seq=self.seq,
                status=outcome.status,
                usage=usage,
                metrics=metrics,
                error_code=outcome.code,
                model=str(metrics.get("model") or ""),
            )
        finally:
            # Never a silent spinner: the sockets hear how it ended even when the database
            # did not take it (the stale sweep then marks the row interrupted).
            await self._publish(self._final(outcome, content=content, usage=usage, metrics=metrics))

    def _final(
        self, outcome: _Outcome, *, content: str, usage: dict[str, Any], metrics: dict[str, Any]
    ) -> protocol.MessageDoneFrame | protocol.MessageErrorFrame:
        if outcome.status == Message.Status.ERROR:
            return protocol.message_error_frame(
                message=self.message_id,
                status=outcome.status,
                code=outcome.code,
                detail=outcome.detail,
                extra=outcome.extra,
                content=content,
                reasoning=self.reasoning,
                seq=self.seq,
                client_id=self.client_id,
            )
        return protocol.message_done_frame(
            message=self.message_id,
            status=outcome.status,
            usage=usage,
            metrics=metrics,
            citations=metrics.get("citations", []),
            content=content,
            reasoning=self.reasoning,
            seq=self.seq,
            client_id=self.client_id,
            staff=user_is_staff(self.user),
            code=outcome.code,
            detail=outcome.detail,
            extra=outcome.extra,
        )

    async def _publish(self, frame: protocol.Frame, *, recoverable: bool = False) -> None:
        # Best effort: the database is the source of truth and a socket that missed frames
        # catches up with chat.resume. A Redis hiccup must not end the answer.
        try:
            await protocol.frame_publish(
                conversation_id=self.conversation_id, frame=frame, recoverable=recoverable
            )
        except Exception:
            logger.warning(
                "publishing to conversation %s failed", self.conversation_id, exc_info=True
            )


def _tokens_per_second(usage: dict[str, Any], generation_ms: Any) -> float | None:
    tokens = usage.get("completion_tokens") if usage else None
    if not isinstance(tokens, int) or tokens <= 1 or not isinstance(generation_ms, int):
        return None
    if generation_ms <= 0:
        return None
    # The first token starts the clock: the time covers the tokens after it.
    return round((tokens - 1) / (generation_ms / 1000), 1)


def _usage_sum(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Usage of an answer and its continuation: the prompt once, the completions added."""
    if not now:
        return dict(before)
    prompt = int(before.get("prompt_tokens") or now.get("prompt_tokens") or 0)
    completion = int(before.get("completion_tokens") or 0) + int(now.get("completion_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def generation_start(
    *,
    message: Message,
    context: list[dict[str, str]],
    model: str | None,
    client_id: str | None = None,
    user: Any = None,
    continuing: bool = False,
    allowed_regions: frozenset[str] | None = None,
    citations: list[dict[str, Any]] | None = None,
    sampling: Sampling | None = None,
    max_tokens: int | None = None,
) -> None:
    """Start answering ``message`` (an assistant message in status streaming) in the
    background; ``continuing`` goes on from its saved content and last_seq. Returns once
    the generation listens for stop requests, so a ``chat.stop``
    sent after the client learns the message id always reaches it."""
    await bus.bus_control_ready()
    generation = Generation(
        message=message_payload(message, staff=user_is_staff(user)),
        context=context,
        model=model,
        client_id=client_id,
        user=user,
        allowed_regions=allowed_regions,
        citations=list(citations or []),
        sampling=sampling,
        max_tokens=max_tokens,
    )
    if continuing:
        generation.base_content = message.content
        # Only an answer with text is continued from it (an interrupted thinking alone is
        # answered afresh, and thinks afresh).
        generation.base_reasoning = message.reasoning if message.content else ""
        generation.base_seq = message.last_seq
        generation.base_usage = dict(message.usage or {})
    bus.bus_control_register(message.pk, generation.controls.put_nowait)
    task = asyncio.create_task(generation.run(), name=f"generation-{message.pk}")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def generation_stop(*, message_id: int) -> None:
    """Ask the generation of ``message_id`` to stop, whichever process runs it."""
    await bus.bus_control_send(message_id, protocol.generation_stop_event())


async def generation_resume(
    *, message_id: int, reply_channel: str, after_seq: int, conversation_id: int
) -> None:
    """Ask the generation of ``message_id`` to send ``reply_channel`` what it missed after
    ``after_seq``, then ``chat.resumed`` (the socket joined the conversation before)."""
    await bus.bus_control_send(
        message_id,
        protocol.generation_resume_event(
            reply_channel=reply_channel, after_seq=after_seq, conversation_id=conversation_id
        ),
    )
