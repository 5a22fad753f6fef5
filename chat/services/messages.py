"""Writes for messages: a turn (the user's message and the answer that streams after it), a
regeneration, a continuation, and the streaming answer's row until it ends.

Everything here is synchronous Django ORM code; the async side (consumer, generation) calls it
through ``database_sync_to_async``. While an answer streams, its row is only ever touched with
single-row UPDATEs filtered on ``status="streaming"``, so a late progress save can never undo a
final state, and the conversation row is not rewritten per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

import gateway
from accounts.models import User
from chat import selectors
from chat.models import Attachment, Conversation, Message
from chat.services.assistant_turn import (
    AssistantTurn,
    assistant_turn_settings,
    context_assistant_apply,
    conversation_assistant,
)
from chat.services.attachments import AttachmentRefused, attachments_bind
from chat.services.conversations import conversation_create, conversation_title_from
from chat.services.retrieval import conversation_datasets_set
from chat.services.tool_steps import conversation_tools_check, conversation_tools_set

# A streaming message's generator refreshes ``updated_at`` at least this often (seconds) ...
STREAMING_HEARTBEAT = 2.0
# ... so one not refreshed for this long has lost its generator (its process died).
STREAMING_STALE_AFTER = timedelta(seconds=10)


# No savepoint of its own inside message_send's transaction: two round trips a turn less.
@transaction.atomic(savepoint=False)
def message_create_turn(
    *,
    conversation: Conversation,
    parent: Message | None,
    content: str,
    model: str = "",
) -> tuple[Message, Message]:
    """Save the user's message and the (empty, streaming) assistant message that answers it,
    both before generation starts: whatever happens to the generator, the question is kept and
    the answer has a row to end in."""
    user_message = Message.objects.create(
        conversation=conversation,
        parent=parent,
        role=Message.Role.USER,
        content=content,
        status=Message.Status.COMPLETE,
    )
    assistant_message = Message.objects.create(
        conversation=conversation,
        parent=user_message,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=model[:200],
    )
    # Moves the conversation to the top of the sidebar; once per turn, not per token.
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return user_message, assistant_message


def message_save_progress(
    *, message_id: int, content: str, last_seq: int, reasoning: str = ""
) -> bool:
    """Save the answer so far (one batched UPDATE of one row). Doubles as the heartbeat: it
    refreshes ``updated_at`` even when nothing new arrived. False when the message is no
    longer streaming (finished, or marked interrupted)."""
    return bool(
        Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
            content=content, reasoning=reasoning, last_seq=last_seq, updated_at=timezone.now()
        )
    )


@dataclass(frozen=True)
class Progress:
    """An answer so far, as its generation knows it (``message_save_progress_many``)."""

    message_id: int
    content: str
    reasoning: str
    last_seq: int


def message_save_progress_many(rows: Sequence[Progress]) -> None:
    """Save several streaming answers so far: the batched form of ``message_save_progress``
    that chat/services/progress.py calls once a tick for every answer of the process. One
    UPDATE per row, sent together (psycopg pipelines ``executemany``: one round trip), in
    plain SQL: the ORM would compile the same statement once per row. A row that is no
    longer streaming (finished, or swept as interrupted) is left alone, as there."""
    if not rows:
        return
    quote = connection.ops.quote_name
    field = Message._meta.get_field
    columns = ("content", "reasoning", "last_seq", "updated_at")
    assignments = ", ".join(f"{quote(field(name).column)} = %s" for name in columns)
    # Only the model's own quoted names are interpolated; every value is a parameter.
    sql = (
        f"UPDATE {quote(Message._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(field('id').column)} = %s AND {quote(field('status').column)} = %s"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [
        (row.content, row.reasoning, row.last_seq, now, row.message_id, Message.Status.STREAMING)
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def message_finish(
    *,
    message_id: int,
    content: str,
    last_seq: int,
    status: str,
    usage: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    error_code: str = "",
    model: str = "",
    reasoning: str = "",
    tool_steps: list[dict[str, Any]] | None = None,
) -> None:
    """Write the final state (``tool_steps`` None: as saved). Deliberately not filtered on
    ``streaming``: if a stalled event loop let the stale sweep mark the message interrupted,
    the generator that did finish still knows better."""
    if status == Message.Status.STREAMING:
        raise ValueError("a finished message cannot be streaming")
    fields: dict[str, Any] = {"model": model[:200]} if model else {}
    if tool_steps is not None:
        fields["tool_steps"] = tool_steps
    Message.objects.filter(pk=message_id).update(
        **fields,
        content=content,
        reasoning=reasoning,
        last_seq=last_seq,
        status=status,
        usage=usage or {},
        metrics=metrics or {},
        error_code=error_code[:64],
        updated_at=timezone.now(),
    )


def message_interrupt_stale(*, conversation_id: int | None = None) -> int:
    """Mark ``interrupted`` every streaming message whose generator stopped heartbeating
    (its process died or was killed): never leave one streaming forever. Called when a
    conversation is loaded, by the page and by the socket. Returns how many were marked."""
    stale = Message.objects.filter(
        status=Message.Status.STREAMING,
        updated_at__lt=timezone.now() - STREAMING_STALE_AFTER,
    )
    if conversation_id is not None:
        stale = stale.filter(conversation_id=conversation_id)
    return stale.update(
        status=Message.Status.INTERRUPTED,
        error_code="generator_lost",
        updated_at=timezone.now(),
    )


def message_load(*, user: User, message_id: int) -> Message:
    """The user's message, after marking its conversation's dead generations interrupted:
    what a stop or a resume acts on. Raises ``Message.DoesNotExist`` as ``message_get``."""
    message = selectors.message_get(user=user, id=message_id)
    if message.status == Message.Status.STREAMING:
        message_interrupt_stale(conversation_id=message.conversation_id)
        message.refresh_from_db()
    return message


@dataclass(frozen=True)
class Turn:
    """What ``message_send`` wrote, and what the model is to see."""

    conversation: Conversation
    conversation_created: bool
    user_message: Message | None  # None for a regeneration
    assistant_message: Message
    context: list[dict[str, Any]]
    model: str
    # The conversation's assistant, as read through the live grants for this turn: its
    # instructions are in ``context`` already; its datasets and sampling apply at the start.
    assistant: AssistantTurn | None = None


@transaction.atomic
def message_send(
    *,
    user: User,
    conversation_id: int | None,
    parent_id: int | None,
    content: str,
    model: str | None,
    root: bool = False,
    datasets: list[int] | None = None,
    attachments: list[int] | None = None,
    fallback_model: str = "",
    tools: list[str] | None = None,
    assistant: int | None = None,
) -> Turn:
    """Save a user's message into their conversation (a new one when ``conversation_id`` is
    None) with its streaming answer, before generation starts. ``parent_id`` None continues
    after the conversation's latest message, unless ``root``: then the message is a new
    first message (an edit of the first question, a sibling of it). ``datasets`` (not None)
    replaces the conversation's choice of datasets to search, ``tools`` (not None) its
    choice of tools. ``attachments``: ids of the user's unsent attachments, given to the new
    message. Raises ``DoesNotExist`` for ids that are not the user's (an attachment's too),
    ``AttachmentRefused`` for too many, ``ModelNoImages`` for images to a model that does
    not read them and ``ToolsRefused`` for a tool they may not use; the transaction then
    keeps nothing (a new conversation neither). ``fallback_model``: the model the gateway
    would pick when neither the conversation nor the admins name one (the caller asks it),
    so that whether it reads images is known before anything is sent. ``assistant``: a new
    conversation starts from it; raises ``AssistantUnavailable`` when the person may not use
    it, or may no longer use the one the conversation started from, before anything is
    written."""
    if tools is not None:
        tools = conversation_tools_check(user=user, tools=tools)
    created = conversation_id is None
    if created:
        # Checked before the conversation exists: an assistant they may not use starts nothing.
        brought = assistant_turn_settings(user=user, id=assistant) if assistant else None
        conversation = conversation_create(
            user=user, title=conversation_title_from(content), model=model or ""
        )
        if brought is not None:
            Conversation.objects.filter(pk=conversation.pk).update(assistant_id=brought.id)
            conversation.assistant_id = brought.id
    else:
        conversation = selectors.conversation_get(user=user, id=conversation_id)
        brought = conversation_assistant(user=user, conversation=conversation)
        message_interrupt_stale(conversation_id=conversation.pk)
    if parent_id is not None:
        parent = conversation.messages.get(pk=parent_id)
    elif root:
        parent = None
    else:
        parent = conversation.messages.order_by("-created_at", "-id").first()
    if model and model != conversation.model:
        # The picker's choice belongs to the conversation: the next turn keeps it.
        Conversation.objects.filter(pk=conversation.pk).update(model=model[:200])
        conversation.model = model[:200]
    if datasets is not None:
        conversation_datasets_set(conversation=conversation, datasets=datasets)
    if tools is not None:
        conversation_tools_set(conversation=conversation, tools=tools)
    defaults = selectors.chat_defaults()  # read once a turn, for the model and the prompt
    # The assistant's model when it names one: it was written for that model.
    chosen = (brought and brought.model) or selectors.conversation_model(
        conversation=conversation, defaults=defaults
    )
    chosen = chosen or fallback_model
    ids = list(dict.fromkeys(attachments or []))
    limit = settings.AIPORTAL_ATTACHMENTS_PER_MESSAGE
    if len(ids) > limit:
        raise AttachmentRefused(
            "too_many",
            _("A message may carry at most %(limit)s attachments.") % {"limit": limit},
        )
    user_message, assistant_message = message_create_turn(
        conversation=conversation, parent=parent, content=content, model=chosen
    )
    if ids:
        bound = attachments_bind(
            user=user, ids=ids, conversation=conversation, message=user_message
        )
        images = any(a.kind == Attachment.Kind.IMAGE for a in bound)
        if images and not _reads_images(chosen):
            raise ModelNoImages(chosen)
        prefetch_related_objects([user_message], "attachments")
    context = selectors.message_context(message=user_message, defaults=defaults, model=chosen)
    return Turn(
        conversation=conversation,
        conversation_created=created,
        user_message=user_message,
        assistant_message=assistant_message,
        context=context_assistant_apply(context, brought),
        model=chosen,
        assistant=brought,
    )


class ModelNoImages(Exception):
    """Images sent to a model that does not read them: refused before anything is sent."""


@transaction.atomic
def message_regenerate(*, user: User, message_id: int) -> Turn:
    """A new answer to the same question: a streaming sibling of the assistant message
    ``message_id``. Raises ``Message.DoesNotExist`` for anything but the user's own
    assistant message."""
    previous = selectors.message_get(user=user, id=message_id)
    if previous.role != Message.Role.ASSISTANT or previous.parent_id is None:
        raise Message.DoesNotExist("only an answer can be regenerated")
    conversation = previous.conversation
    brought = conversation_assistant(user=user, conversation=conversation)
    message_interrupt_stale(conversation_id=conversation.pk)
    question = Message.objects.get(pk=previous.parent_id)
    assistant_message = Message.objects.create(
        conversation=conversation,
        parent=question,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=(brought and brought.model)
        or selectors.conversation_model(conversation=conversation)
        or previous.model,
    )
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return Turn(
        conversation=conversation,
        conversation_created=False,
        user_message=None,
        assistant_message=assistant_message,
        context=context_assistant_apply(
            selectors.message_context(message=question, model=assistant_message.model), brought
        ),
        model=assistant_message.model,
        assistant=brought,
    )


class MessageBadState(Exception):
    """The message exists and is the user's, but cannot do what was asked in its status."""


CONTINUABLE = (Message.Status.INTERRUPTED, Message.Status.STOPPED)


@transaction.atomic
def message_continue(*, user: User, message_id: int) -> Turn:
    """Put the user's interrupted or stopped answer back to streaming, to be continued from
    its saved text (same message, seq after its ``last_seq``). Raises
    ``Message.DoesNotExist`` for anything but the user's own message, ``MessageBadState``
    for an answer in another status."""
    message = selectors.message_get(user=user, id=message_id)
    if message.role != Message.Role.ASSISTANT or message.parent_id is None:
        raise MessageBadState("only an answer can be continued")
    brought = conversation_assistant(user=user, conversation=message.conversation)
    message_interrupt_stale(conversation_id=message.conversation_id)
    # Conditional: of two continues racing (two tabs), one wins and the other is told.
    claimed = Message.objects.filter(pk=message.pk, status__in=CONTINUABLE).update(
        status=Message.Status.STREAMING, error_code="", updated_at=timezone.now()
    )
    if not claimed:
        raise MessageBadState("only an interrupted or stopped answer can be continued")
    message.refresh_from_db()
    question = Message.objects.get(pk=message.parent_id)
    model = message.model or message.conversation.model
    return Turn(
        conversation=message.conversation,
        conversation_created=False,
        user_message=None,
        assistant_message=message,
        context=context_assistant_apply(
            selectors.message_context(message=question, model=model), brought
        ),
        model=model,
        assistant=brought,
    )


def _reads_images(model: str) -> bool:
    return bool(model) and gateway.model_accepts_images(model=model)
