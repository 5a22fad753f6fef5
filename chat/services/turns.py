"""Starting a turn's answer once its rows are written (``messages.message_send``,
``message_regenerate``, ``message_continue``): the user's message shown to every tab, the
conversation's datasets searched, the generation started; and if that fails, the answer ended
and every tab told why, never a silent spinner.

The consumer joins the conversation first (so it sees what this publishes) and
passes ``reply``, how to send a frame to that socket alone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async

import gateway
from accounts.models import User
from chat import protocol
from chat.models import Message
from chat.selectors import message_payload
from chat.services.assistant_turn import assistant_sampling
from chat.services.attachment_context import attachment_passages, room_for_documents
from chat.services.generation import generation_start
from chat.services.messages import Turn, message_finish
from chat.services.retrieval import context_passages_insert, conversation_retrieve
from chat.services.tool_steps import conversation_tools_usable
from chat.visibility import user_is_staff

logger = logging.getLogger(__name__)

Reply = Callable[[protocol.Frame], Awaitable[None]]

# Not thread-sensitive (see generation.py): each call is self-contained.
_db_conversation_retrieve = database_sync_to_async(conversation_retrieve, thread_sensitive=False)
_db_message_finish = database_sync_to_async(message_finish, thread_sensitive=False)
_db_tools_usable = database_sync_to_async(conversation_tools_usable, thread_sensitive=False)


_db_attachment_passages = database_sync_to_async(attachment_passages, thread_sensitive=False)


def _last_question(context: list[dict[str, Any]]) -> str:
    content = next((m["content"] for m in reversed(context) if m.get("role") == "user"), "")
    if isinstance(content, list):  # text and images: the text is the question
        return " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return str(content)


def _before_question(
    context: list[dict[str, Any]], message: dict[str, str] | None
) -> list[dict[str, Any]]:
    """``message`` just before the user's latest message (as the datasets' passages)."""
    if message is None:
        return context
    last_user = max(
        (i for i, m in enumerate(context) if m.get("role") == "user"), default=len(context)
    )
    return [*context[:last_user], message, *context[last_user:]]


async def turn_start(
    *,
    user: User,
    turn: Turn,
    client_id: str | None,
    reply: Reply,
    continuing: bool = False,
) -> None:
    """Start answering ``turn``: its user message (if any) goes to the conversation,
    then ``datasets.dropped`` (if any) to ``reply`` alone, then the generation, which
    publishes the answer. Raises only if publishing to the conversation fails (the consumer then
    answers ``internal_error``); a failure after the user's message ends the saved answer
    (status error, or interrupted when it has text to continue from) and tells every tab."""
    if turn.user_message is not None:
        # To the conversation, so that other tabs on this conversation show it too.
        await protocol.frame_publish(
            conversation_id=turn.conversation.pk,
            frame=protocol.message_created_frame(
                message=message_payload(turn.user_message, staff=user_is_staff(user)),
                client_id=client_id,
            ),
        )
    answer = turn.assistant_message
    try:
        # Every turn reads the grants again: a revoked dataset is neither searched nor
        # allowed to pin the answer to its regions any more.
        retrieval = await _db_conversation_retrieve(
            user=user,
            conversation=turn.conversation,
            query=_last_question(turn.context),
            extra=turn.assistant.datasets if turn.assistant else None,
        )
        if retrieval.dropped:
            await reply(
                protocol.datasets_dropped_frame(
                    conversation=turn.conversation.pk,
                    datasets=retrieval.dropped,
                    client_id=client_id,
                )
            )
        context = context_passages_insert(turn.context, retrieval)
        # The branch's attached documents: whole if they fit the model's context, else the
        # passages that best match the question; cited after the datasets' passages.
        length = await gateway.model_context_length(model=turn.model) if turn.model else None
        attached = await _db_attachment_passages(
            question=turn.user_message
            or Message(pk=answer.parent_id, conversation_id=answer.conversation_id),
            query=_last_question(turn.context),
            room=room_for_documents(
                context_length=length,
                context=context,
                answer=turn.assistant.max_tokens if turn.assistant else None,
            ),
            first_number=len(retrieval.citations) + 1,
        )
        # Every turn reads the tools' access again too: a server closed to the person since
        # is not offered.
        # An assistant brings its tools beside the ones the person picked (each read again).
        tools = await _db_tools_usable(
            user=user,
            conversation=turn.conversation,
            brought=turn.assistant.tools if turn.assistant else (),
        )
        await generation_start(
            message=answer,
            context=_before_question(context, attached.message),
            model=turn.model or None,
            client_id=client_id,
            user=user,
            continuing=continuing,
            allowed_regions=retrieval.regions,
            citations=[*retrieval.citations, *attached.citations],
            tools=tools,
            sampling=assistant_sampling(turn.assistant),
            max_tokens=turn.assistant.max_tokens if turn.assistant else None,
        )
    except Exception:
        # Never a silent spinner: the saved answer ends, and the page hears why.
        logger.exception("could not start generating message %s", answer.pk)
        await _turn_fail(answer=answer, client_id=client_id, staff=user_is_staff(user))


async def _turn_fail(*, answer: Message, client_id: str | None, staff: bool) -> None:
    """End the answer that could not start, and show it ended on every tab. The answer's own
    ``message.created`` comes first: a new answer's is otherwise sent by the generation that
    never started, and a page drops a final frame for a message it does not know (the person
    saw their question and nothing else)."""
    status = Message.Status.INTERRUPTED if answer.content else Message.Status.ERROR
    with contextlib.suppress(Exception):
        await _db_message_finish(
            message_id=answer.pk,
            content=answer.content,
            reasoning=answer.reasoning,
            last_seq=answer.last_seq,
            status=status,
            error_code="internal_error",
        )
    answer.status, answer.error_code = status, "internal_error"
    conversation_id = answer.conversation_id
    # To the conversation, after the user's message (published there too): in order.
    await protocol.frame_publish(
        conversation_id=conversation_id,
        frame=protocol.message_created_frame(
            message=message_payload(answer, staff=staff), client_id=client_id
        ),
    )
    # An error; or interrupted with its text kept: no usage or metrics, the page keeps what it
    # shows.
    ended = {
        "message": answer.pk,
        "status": status,
        "code": "internal_error",
        "detail": "The answer could not be started.",
        "content": answer.content,
        "reasoning": answer.reasoning,
        "seq": answer.last_seq,
        "client_id": client_id,
    }
    frame: protocol.MessageDoneFrame | protocol.MessageErrorFrame = (
        protocol.message_error_frame(**ended)
        if status == Message.Status.ERROR
        else protocol.message_done_frame(**ended, staff=staff)
    )
    await protocol.frame_publish(conversation_id=conversation_id, frame=frame)
