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

With tools (the conversation's MCP tools, ``chat.services.tool_steps``), the answer is made in
rounds: the model is offered the tools; when it calls some, each call runs through the MCP
client (``tools.calls``), its result goes back as a ``tool`` message, and the model goes on,
for at most the servers' ``max_steps`` rounds and ``AIPORTAL_TOOLS_TIME_BUDGET``, after which
it is offered no tools and answers with what it has. Each call is a step of the answer
(``tool.call``, ``tool.approval``, ``tool.result`` frames; ``Message.tool_steps``), saved as it
starts and ends and audited. A stop cancels the call in flight with the rest of the stream
task.
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
from django.conf import settings

from chat import bus, protocol
from chat.models import Message
from chat.selectors import message_payload
from chat.services import progress
from chat.services.conversations import conversation_title_generate
from chat.services.messages import message_finish
from chat.services.tool_steps import message_tool_steps_save, step_result_saved
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
    ToolCall,
    ToolCalls,
    WorkersBusy,
    chat_stream,
)
from tools.calls import (
    arguments_parse,
    calls_message,
    result_message,
    tool_step_run,
    tools_offered,
)
from tools.models import McpServer
from tools.selectors import UsableTool
from tools.services import tool_call_audit

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
_db_steps_save = database_sync_to_async(message_tool_steps_save, thread_sensitive=False)
_db_call_audit = database_sync_to_async(tool_call_audit, thread_sensitive=False)
# What of a call's arguments is kept with its step (the model's own text; a runaway is cut).
ARGUMENTS_SAVED_CHARS = 4000


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
    # The MCP tools this answer may call, its steps so far (protocol.ToolStep), and the calls
    # waiting for the person's decision (call id -> future of approve/deny).
    tools: list[UsableTool] = field(default_factory=list)
    tool_steps: list[protocol.ToolStep] = field(default_factory=list)
    approvals: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    audited: set[str] = field(default_factory=set)

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
            messages: list[dict[str, Any]] = list(self.context)
            if self.continuing:
                # The partial answer as the final assistant message, which vLLM extends.
                # Its thinking goes beside it as vLLM's "reasoning", never into the text.
                final = {"role": "assistant", "content": self.base_content}
                if self.base_reasoning:
                    final["reasoning"] = self.base_reasoning
                messages = [*messages, final]
            # A continuation extends text: it offers no tools (its rounds are over).
            specs, by_function = tools_offered([] if self.continuing else self.tools)
            max_steps = min((t.max_steps for t in by_function.values()), default=0)
            budget_end = time.monotonic() + settings.AIPORTAL_TOOLS_TIME_BUDGET
            usage: dict[str, Any] = {}
            rounds = 0
            while True:
                # Past the steps or the time budget the model gets no tools: it answers.
                offer = specs if rounds < max_steps and time.monotonic() < budget_end else []
                text, calls, finished = await self._round(messages, tools=offer)
                usage = _usage_add(usage, finished.usage)
                if calls is None or not offer:
                    return _Outcome(
                        status=Message.Status.COMPLETE, usage=usage, metrics=finished.metrics
                    )
                rounds += 1
                messages.append(calls_message(text, calls.calls))
                for call in calls.calls:
                    result = await self._tool_step(call, by_function, budget_end=budget_end)
                    messages.append(result_message(call.id, result))
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
        except _NoEnd:
            return _Outcome(
                status=Message.Status.ERROR,
                code="upstream_failed",
                detail="The answer ended without finishing.",
            )
        except Exception:
            logger.exception("streaming message %s failed", self.message_id)
            return _Outcome(
                status=Message.Status.ERROR,
                code="internal_error",
                detail="The answer failed unexpectedly.",
            )

    async def _round(
        self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]]
    ) -> tuple[str, ToolCalls | None, Finished]:
        """One request to the model: its text (streamed as deltas), its tool calls, its end.
        Raises ``_NoEnd`` when the stream ended without ``Finished``."""
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
            tools=tools or None,
        )
        text: list[str] = []
        calls: ToolCalls | None = None
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
                    text.append(item.text)
                    self.wake.set()
                elif isinstance(item, ToolCalls):
                    calls = item
                elif isinstance(item, Finished):
                    return "".join(text), calls, item
        raise _NoEnd

    async def _tool_step(
        self, call: ToolCall, by_function: dict[str, UsableTool], *, budget_end: float
    ) -> str:
        """Run one call the model made (asking the person first if its server says so) as a
        step of the answer; what the model reads back. A stop cancels it where it waits."""
        tool = by_function.get(call.name)
        step_id = call.id[:90] or "call"
        if any(s["id"] == step_id for s in self.tool_steps):
            # The model's ids need not be unique across rounds; a step's must (the page and
            # the approvals find it by id).
            step_id = f"{step_id}-{len(self.tool_steps)}"
        step: protocol.ToolStep = {
            "id": step_id,
            "tool": tool.full_name if tool else call.name[:200],
            "arguments": call.arguments[:ARGUMENTS_SAVED_CHARS],
            "status": "running",
            "result": "",
            "duration_ms": None,
            "at": len(self.content) + len("".join(self.pending)),
        }
        self.tool_steps.append(step)
        arguments = arguments_parse(call.arguments)
        if tool is None or arguments is None:
            why = (
                f"Error: no tool named {call.name!r} is offered."
                if tool is None
                else "Error: the arguments must be a JSON object."
            )
            await self._step_end(step, tool=tool, status="error", result=why, duration_ms=0)
            return why
        if tool.approval == McpServer.Approval.ASK:
            step["status"] = "waiting"
            if not await self._approved(step, budget_end=budget_end):
                denied = "Error: the call was denied by the user."
                await self._step_end(step, tool=tool, status="denied", result=denied, duration_ms=0)
                return denied
            step["status"] = "running"
        await self._step_publish(protocol.tool_call_frame(message=self.message_id, step=step))
        # A stop cancels this; the step, still "running", ends "stopped" in _finish.
        outcome = await tool_step_run(
            tool=tool, arguments=arguments, budget=budget_end - time.monotonic()
        )
        await self._step_end(
            step,
            tool=tool,
            status=outcome.status,
            result=outcome.result,
            duration_ms=outcome.duration_ms,
        )
        return outcome.result

    async def _approved(self, step: protocol.ToolStep, *, budget_end: float) -> bool:
        """Ask the person (``tool.approval``); False when they deny or do not answer in time."""
        waiting = max(
            0.0, min(settings.AIPORTAL_TOOLS_APPROVAL_TIMEOUT, budget_end - time.monotonic())
        )
        decision: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.approvals[step["id"]] = decision
        try:
            await self._step_publish(protocol.tool_call_frame(message=self.message_id, step=step))
            await self._step_publish(
                protocol.tool_approval_frame(
                    message=self.message_id, step=step, timeout_s=math.ceil(waiting)
                )
            )
            try:
                async with asyncio.timeout(waiting):
                    return await decision
            except TimeoutError:
                return False
        finally:
            self.approvals.pop(step["id"], None)

    async def _step_end(
        self,
        step: protocol.ToolStep,
        *,
        tool: UsableTool | None,
        status: str,
        result: str,
        duration_ms: int,
    ) -> None:
        step.update(status=status, result=step_result_saved(result), duration_ms=duration_ms)
        await self._step_publish(protocol.tool_result_frame(message=self.message_id, step=step))
        await self._step_audit(step, tool=tool)

    async def _step_audit(self, step: protocol.ToolStep, *, tool: UsableTool | None) -> None:
        if step["id"] in self.audited or self.user is None:
            return
        self.audited.add(step["id"])
        try:
            await _db_call_audit(
                user=self.user,
                server_id=tool.server.id if tool else 0,
                tool=step["tool"],
                message_id=self.message_id,
                status=step["status"],
                duration_ms=step["duration_ms"] or 0,
            )
        except Exception:
            logger.warning("could not audit tool call %s", step["id"], exc_info=True)

    async def _step_publish(self, frame: protocol.Frame) -> None:
        """Send a step's frame after the text before it, and save the steps: a resume's
        snapshot (taken under the same lock) has every step it was sent before."""
        await self._publish_pending()
        async with self.lock:
            await self._publish(frame)
        try:
            await _db_steps_save(message_id=self.message_id, steps=self.tool_steps)
        except Exception:
            logger.warning("could not save the steps of message %s", self.message_id, exc_info=True)

    def tool_decide(self, call: str, approve: bool) -> None:
        decision = self.approvals.get(call)
        if decision is not None and not decision.done():
            decision.set_result(approve)

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
            elif event.get("type") == "generation.tool_approve":
                self.tool_decide(str(event.get("call")), event.get("approve") is True)

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
                # Steps change without a seq: a socket that may have missed one gets them all.
                if int(event.get("after_seq", 0)) < self.seq or self.tool_steps:
                    snapshot = protocol.message_snapshot_frame(
                        message=self.message_id,
                        seq=self.seq,
                        content=self.content,
                        reasoning=self.reasoning,
                        status=Message.Status.STREAMING,
                        tool_steps=self.tool_steps,
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
        for step in self.tool_steps:
            if step["status"] in {"running", "waiting"}:
                # The answer ended while the call ran or waited (a stop, a shutdown).
                step["status"] = "stopped"
                await self._step_audit(step, tool=self._tool_named(step["tool"]))
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
                tool_steps=list(self.tool_steps) if self.tool_steps else None,
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
            tool_steps=self.tool_steps,
        )

    def _tool_named(self, full_name: str) -> UsableTool | None:
        return next((t for t in self.tools if t.full_name == full_name), None)

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


class _NoEnd(Exception):
    """The model's stream ended without its end (``Finished``)."""


def _usage_add(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Usage of an answer made in rounds (tool calls): every round's tokens, prompts included
    (each round's prompt was processed, and counted against the budgets)."""
    if not before:
        return dict(now)
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {k: int(before.get(k) or 0) + int(now.get(k) or 0) for k in keys}


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
    tools: list[UsableTool] | None = None,
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
        tools=list(tools or []),
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
        generation.tool_steps = list(message.tool_steps or [])
    bus.bus_control_register(message.pk, generation.controls.put_nowait)
    task = asyncio.create_task(generation.run(), name=f"generation-{message.pk}")
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def generation_stop(*, message_id: int) -> None:
    """Ask the generation of ``message_id`` to stop, whichever process runs it."""
    await bus.bus_control_send(message_id, protocol.generation_stop_event())


async def generation_tool_decide(*, message_id: int, call: str, approve: bool) -> None:
    """Hand the person's decision on a waiting call to the generation of ``message_id``."""
    await bus.bus_control_send(
        message_id, protocol.generation_tool_approve_event(call=call, approve=approve)
    )


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
