"""The chat websocket's protocol, v2 (docs/websocket.md): its version, one builder per frame
kind the server sends, the events that carry control between processes, and publishing.

Every frame the chat sends is built here and nowhere else (tests/chat/test_protocol.py holds
the builders to the documented shapes and the rest of the chat to that rule), so a new frame
kind is one builder to add, to document and to test.

Frames are ``TypedDict``s, not dataclasses: a frame is a plain dict, encoded once by
``frame_publish`` and relayed as that text to every socket that gets it (``chat.bus``); a
TypedDict types it for mypy with no conversion at either end. A key a frame may lack is
``NotRequired``, and its builder leaves it out rather than sending ``null``: the page tells
"absent" from "empty" (``frame.metrics || r.metrics``).

Every server frame carries ``"v": PROTOCOL_VERSION``; the builders put it in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from chat import bus
from chat.models import Message
from chat.visibility import metrics_visible

PROTOCOL_VERSION = 2
# v2 only added optional fields and frame kinds (attachments, assistants, tools): a page still
# open from before the upgrade speaks v1 and keeps working, so its frames are accepted.
CLIENT_VERSIONS = frozenset({1, PROTOCOL_VERSION})


# --- Frames the server sends -------------------------------------------------------------------


class ErrorExtra(TypedDict, total=False):
    """The extra fields some error codes carry (docs/websocket.md, "message.error"); also on
    a ``message.done`` whose ``code`` says why an answer ended interrupted."""

    resets_at: str  # over_budget: when the daily budget refills
    retry_after: int  # rate_limited, workers_busy: whole seconds


class ConversationCreatedFrame(TypedDict):
    type: Literal["conversation.created"]
    v: int
    conversation: dict[str, Any]
    client_id: str | None


class ConversationUpdatedFrame(TypedDict):
    type: Literal["conversation.updated"]
    v: int
    conversation: dict[str, Any]


class MessageCreatedFrame(TypedDict):
    type: Literal["message.created"]
    v: int
    message: dict[str, Any]
    client_id: str | None


class MessageDeltaFrame(TypedDict):
    type: Literal["message.delta"]
    v: int
    message: int
    seq: int
    text: str
    reasoning: NotRequired[str]


class MessageSnapshotFrame(TypedDict):
    type: Literal["message.snapshot"]
    v: int
    message: int
    seq: int
    content: str
    reasoning: str
    status: str
    tool_steps: NotRequired[list[ToolStep]]


class ToolStep(TypedDict):
    """One tool call of an answer, as saved (Message.tool_steps) and sent (v2: tools)."""

    id: str
    tool: str  # "server/tool"
    arguments: str  # JSON text, as the model wrote it
    status: str  # running, waiting, ok, error, timeout, denied, stopped
    result: str  # capped; "" while running
    duration_ms: int | None
    at: int  # the answer's length in characters when the call was made


class ToolCallFrame(TypedDict):
    type: Literal["tool.call"]
    v: int
    message: int
    step: ToolStep


class ToolApprovalFrame(TypedDict):
    type: Literal["tool.approval"]
    v: int
    message: int
    step: ToolStep
    timeout_s: int


class ToolResultFrame(TypedDict):
    type: Literal["tool.result"]
    v: int
    message: int
    step: ToolStep


class MessageDoneFrame(TypedDict):
    type: Literal["message.done"]
    v: int
    message: int
    status: str
    content: str
    reasoning: str
    seq: int
    client_id: str | None
    usage: NotRequired[dict[str, Any]]
    metrics: NotRequired[dict[str, Any]]
    citations: NotRequired[list[dict[str, Any]]]
    tool_steps: NotRequired[list[ToolStep]]
    # Why an answer ended interrupted, with the error's extra fields.
    code: NotRequired[str]
    detail: NotRequired[str]
    resets_at: NotRequired[str]
    retry_after: NotRequired[int]


class MessageErrorFrame(TypedDict):
    type: Literal["message.error"]
    v: int
    # None: the request was refused and nothing was written.
    message: int | None
    code: str
    detail: str
    client_id: str | None
    status: NotRequired[str]
    content: NotRequired[str]
    reasoning: NotRequired[str]
    seq: NotRequired[int]
    resets_at: NotRequired[str]
    retry_after: NotRequired[int]
    limit: NotRequired[int]


class DatasetsDroppedFrame(TypedDict):
    type: Literal["datasets.dropped"]
    v: int
    conversation: int
    datasets: list[int]
    detail: str
    client_id: str | None


class DatasetsChangedFrame(TypedDict):
    type: Literal["datasets.changed"]
    v: int


class AssistantsChangedFrame(TypedDict):
    type: Literal["assistants.changed"]
    v: int


class ErrorFrame(TypedDict):
    type: Literal["error"]
    v: int
    code: str
    detail: str


class PongFrame(TypedDict):
    type: Literal["pong"]
    v: int


Frame = (
    ConversationCreatedFrame
    | ConversationUpdatedFrame
    | MessageCreatedFrame
    | MessageDeltaFrame
    | MessageSnapshotFrame
    | MessageDoneFrame
    | MessageErrorFrame
    | DatasetsDroppedFrame
    | DatasetsChangedFrame
    | AssistantsChangedFrame
    | ErrorFrame
    | PongFrame
    | ToolCallFrame
    | ToolApprovalFrame
    | ToolResultFrame
)

DATASETS_DROPPED_DETAIL = (
    "A dataset of this conversation is no longer available to you: it was not searched."
)


def conversation_created_frame(
    *, conversation: dict[str, Any], client_id: str | None
) -> ConversationCreatedFrame:
    """To the socket that started the conversation: the page puts its url in the address bar."""
    return {
        "type": "conversation.created",
        "v": PROTOCOL_VERSION,
        "conversation": conversation,
        "client_id": client_id,
    }


def conversation_updated_frame(*, conversation: dict[str, Any]) -> ConversationUpdatedFrame:
    """Its title or pin changed (a generated title, a rename or pin in another tab)."""
    return {"type": "conversation.updated", "v": PROTOCOL_VERSION, "conversation": conversation}


def message_created_frame(*, message: dict[str, Any], client_id: str | None) -> MessageCreatedFrame:
    return {
        "type": "message.created",
        "v": PROTOCOL_VERSION,
        "message": message,
        "client_id": client_id,
    }


def message_delta_frame(*, message: int, seq: int, text: str, reasoning: str) -> MessageDeltaFrame:
    """``reasoning`` is sent only when the delta carries thinking."""
    frame: MessageDeltaFrame = {
        "type": "message.delta",
        "v": PROTOCOL_VERSION,
        "message": message,
        "seq": seq,
        "text": text,
    }
    if reasoning:
        frame["reasoning"] = reasoning
    return frame


def message_snapshot_frame(
    *,
    message: int,
    seq: int,
    content: str,
    reasoning: str,
    status: str,
    tool_steps: list[ToolStep] | None = None,
) -> MessageSnapshotFrame:
    frame: MessageSnapshotFrame = {
        "type": "message.snapshot",
        "v": PROTOCOL_VERSION,
        "message": message,
        "seq": seq,
        "content": content,
        "reasoning": reasoning,
        "status": status,
    }
    if tool_steps:
        frame["tool_steps"] = tool_steps
    return frame


def tool_call_frame(*, message: int, step: ToolStep) -> ToolCallFrame:
    """A tool call began (status running), or waits for approval first (status waiting)."""
    return {"type": "tool.call", "v": PROTOCOL_VERSION, "message": message, "step": step}


def tool_approval_frame(*, message: int, step: ToolStep, timeout_s: int) -> ToolApprovalFrame:
    """The call waits for the person's ``chat.tool_approve`` for at most ``timeout_s``."""
    return {
        "type": "tool.approval",
        "v": PROTOCOL_VERSION,
        "message": message,
        "step": step,
        "timeout_s": timeout_s,
    }


def tool_result_frame(*, message: int, step: ToolStep) -> ToolResultFrame:
    """A tool call ended: its status, result (capped) and duration."""
    return {"type": "tool.result", "v": PROTOCOL_VERSION, "message": message, "step": step}


def message_done_frame(
    *,
    message: int,
    status: str,
    content: str,
    reasoning: str,
    seq: int,
    client_id: str | None,
    staff: bool,
    usage: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    citations: list[dict[str, Any]] | None = None,
    code: str = "",
    detail: str = "",
    extra: ErrorExtra | None = None,
    tool_steps: list[ToolStep] | None = None,
) -> MessageDoneFrame:
    """An answer's end (complete, stopped, interrupted). ``usage``, ``metrics`` and
    ``citations`` are left out when None (an answer that could not start has none to give,
    and the page keeps what it showed); ``code``, ``detail`` and ``extra`` say why an answer
    ended interrupted. Only ``staff`` get the worker in the metrics (chat/visibility.py):
    every socket of a conversation is its owner's, so the owner's status decides."""
    frame: MessageDoneFrame = {
        "type": "message.done",
        "v": PROTOCOL_VERSION,
        "message": message,
        "status": status,
        "content": content,
        "reasoning": reasoning,
        "seq": seq,
        "client_id": client_id,
    }
    if usage is not None:
        frame["usage"] = usage
    if metrics is not None:
        frame["metrics"] = metrics_visible(metrics, staff=staff)
    if citations is not None:
        frame["citations"] = citations
    if tool_steps:
        frame["tool_steps"] = tool_steps
    if code:
        frame["code"] = code
        frame["detail"] = detail
        _extra_add(frame, extra)
    return frame


def message_error_frame(
    *,
    message: int,
    status: str,
    code: str,
    detail: str,
    content: str,
    reasoning: str,
    seq: int,
    client_id: str | None,
    extra: ErrorExtra | None = None,
) -> MessageErrorFrame:
    """An answer that failed, saved with status error and whatever text had arrived."""
    frame: MessageErrorFrame = {
        "type": "message.error",
        "v": PROTOCOL_VERSION,
        "message": message,
        "status": status,
        "code": code,
        "detail": detail,
        "content": content,
        "reasoning": reasoning,
        "seq": seq,
        "client_id": client_id,
    }
    _extra_add(frame, extra)
    return frame


def _extra_add(frame: MessageDoneFrame | MessageErrorFrame, extra: ErrorExtra | None) -> None:
    if extra and "resets_at" in extra:
        frame["resets_at"] = extra["resets_at"]
    if extra and "retry_after" in extra:
        frame["retry_after"] = extra["retry_after"]


def message_refused_frame(
    *, code: str, detail: str, client_id: str | None, limit: int | None = None
) -> MessageErrorFrame:
    """A ``message.error`` with ``message: null``: the request was refused and nothing was
    written (not_found, too_long, bad_state); the page gives the text back to the composer."""
    frame: MessageErrorFrame = {
        "type": "message.error",
        "v": PROTOCOL_VERSION,
        "message": None,
        "code": code,
        "detail": detail,
        "client_id": client_id,
    }
    if limit is not None:
        frame["limit"] = limit
    return frame


def message_final_frame(
    message: Message, *, staff: bool, client_id: str | None = None
) -> MessageDoneFrame | MessageErrorFrame:
    """How an answer ended, built from its row (the source of truth): for a stop or a resume
    that comes after the end; ``staff`` as for ``message_done_frame``."""
    if message.status == Message.Status.ERROR:
        return message_error_frame(
            message=message.pk,
            status=message.status,
            code=message.error_code or "error",
            detail="The answer failed.",
            content=message.content,
            reasoning=message.reasoning,
            seq=message.last_seq,
            client_id=client_id,
        )
    return message_done_frame(
        message=message.pk,
        status=message.status,
        content=message.content,
        reasoning=message.reasoning,
        seq=message.last_seq,
        client_id=client_id,
        staff=staff,
        usage=message.usage,
        metrics=message.metrics,
        citations=(message.metrics or {}).get("citations", []),
        tool_steps=message.tool_steps,
    )


def datasets_dropped_frame(
    *, conversation: int, datasets: list[int], client_id: str | None
) -> DatasetsDroppedFrame:
    return {
        "type": "datasets.dropped",
        "v": PROTOCOL_VERSION,
        "conversation": conversation,
        "datasets": datasets,
        "detail": DATASETS_DROPPED_DETAIL,
        "client_id": client_id,
    }


def datasets_changed_frame() -> DatasetsChangedFrame:
    return {"type": "datasets.changed", "v": PROTOCOL_VERSION}


def assistants_changed_frame() -> AssistantsChangedFrame:
    """The assistants the person may use changed (assistants/events.py): refetch the picker."""
    return {"type": "assistants.changed", "v": PROTOCOL_VERSION}


def error_frame(*, code: str, detail: str) -> ErrorFrame:
    """For a frame that cannot be processed; the socket stays open."""
    return {"type": "error", "v": PROTOCOL_VERSION, "code": code, "detail": detail}


def pong_frame() -> PongFrame:
    return {"type": "pong", "v": PROTOCOL_VERSION}


# --- Events ------------------------------------------------------------------------------------
# What travels between processes. Never sent to a client as such: they are between sockets
# and generations. ``chat.resumed`` travels with the conversation's frames, the others on the
# bus's control channel (both ``chat.bus``).


def resumed_event(*, message_id: int) -> dict[str, Any]:
    """A generation tells a resuming socket that it is alive and that the frames after this
    one are the deltas after its snapshot."""
    return {"type": "chat.resumed", "message": message_id}


def event_is_resumed(frame: Mapping[str, Any]) -> bool:
    return frame.get("type") == "chat.resumed"


def generation_stop_event() -> dict[str, Any]:
    return {"type": "generation.stop"}


def generation_end_event() -> dict[str, Any]:
    """A generation's own control loop is told to return (see ``Generation._stop_listening``)."""
    return {"type": "generation.end"}


def generation_tool_approve_event(*, call: str, approve: bool) -> dict[str, Any]:
    """The person's decision on a call waiting for approval, for the generation running it."""
    return {"type": "generation.tool_approve", "call": call, "approve": approve}


def generation_resume_event(
    *, reply_channel: str, after_seq: int, conversation_id: int
) -> dict[str, Any]:
    return {
        "type": "generation.resume",
        "reply_channel": reply_channel,
        "after_seq": after_seq,
        "conversation": conversation_id,
    }


# --- Publishing --------------------------------------------------------------------------------


def frame_encode(frame: Frame | Mapping[str, Any]) -> str:
    """The frame as JSON text, exactly as ``json.dumps`` writes it. A delta, the frame sent
    most by far, is written from a template: its only strings go through the C escaper,
    without walking a dict (a seventh of the time; tests/chat/test_protocol.py holds both
    to the same text)."""
    fields: Mapping[str, Any] = frame
    if fields.get("type") == "message.delta" and len(fields) == 5:
        return _DELTA % (fields["message"], fields["seq"], _escape(fields["text"]))
    return json.dumps(frame)


_DELTA = (
    '{"type": "message.delta", "v": ' + str(PROTOCOL_VERSION) + ', "message": %d, "seq": %d, '
    '"text": %s}'
)
_escape = json.encoder.encode_basestring_ascii


async def frame_publish(*, conversation_id: int, frame: Frame, recoverable: bool = False) -> None:
    """Send a frame to every socket showing the conversation, in any process: encoded once,
    the same text for all (``chat.bus``). ``recoverable``: a frame that a socket which missed
    it gets back by resuming (a delta), which the bus keeps off Redis while no other process
    listens. Raises what Redis raises, after this process's sockets have it: the callers
    decide whether a lost frame matters (most are best effort)."""
    await bus.bus_publish(
        conversation_id=conversation_id,
        frame=frame,
        text=frame_encode(frame),
        recoverable=recoverable,
    )


async def frame_send(*, conversation_id: int, to: str, frame: Frame | dict[str, Any]) -> None:
    """Send a frame (a resuming socket's snapshot) or a ``resumed_event`` to one socket of
    the conversation, in order with the conversation's other frames."""
    await bus.bus_publish(
        conversation_id=conversation_id, frame=frame, text=frame_encode(frame), to=to
    )


def frame_is_final(frame: Mapping[str, Any]) -> bool:
    """Whether a relayed frame ends an answer."""
    return frame.get("type") in {"message.done", "message.error"}
