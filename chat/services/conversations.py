"""Writes for conversations: creating one, its settings, and the sidebar's rename, pin,
delete with undo, share links and generated titles.

Kept apart from ``messages.py`` (the message tree and streaming) because none of this touches
an answer while it streams. Every function that takes a ``user`` fetches the conversation
through ``selectors.conversation_get``: another user's id raises ``DoesNotExist`` before
anything is written. Rows are changed with ``UPDATE`` rather than ``save()`` so that
``updated_at`` (auto_now, the sidebar's order) does not move: renaming an old conversation
must not bring it to the top.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.legal_hold import held_user_ids
from accounts.models import User
from accounts.preferences import preferences_get
from chat import protocol, selectors
from chat.models import Conversation, ConversationShare, Message

logger = logging.getLogger(__name__)

# A title taken from the first message is at most this long (the sidebar's width).
TITLE_CHARS = 60
TITLE_MAX_CHARS = 200  # Conversation.title's max_length
# How long a deleted conversation can still be restored; after that it is purged.
UNDO_WINDOW = timedelta(seconds=10)
TITLE_PROMPT = (
    "Write a short title (at most six words) for the conversation below. "
    "Reply with the title only: no quotes, no punctuation at the end."
)
TITLE_MAX_TOKENS = 24
# A title is not worth holding a generation task (and a worker slot) for longer than this.
TITLE_TIMEOUT = 20.0
# Quote marks a model may wrap a title in: straight, curly and guillemets.
QUOTES = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb"
# A reply longer than this is a sentence or an answer, not a title.
TITLE_MAX_WORDS = 10
TITLE_MAX_LINES = 2  # "Title: …" and one stray line at most
# Stock phrases of a model talking about itself (or of the emulator's demo note).
TITLE_BOILERPLATE = re.compile(
    r"emulator|demo answer|language model|as an ai\b|you are talking to|"
    r"how can i (help|assist)|\bi(?:'m| am) sorry\b|\bi can(?:not|'t)\b",
    re.IGNORECASE,
)
GENERIC_TITLES = frozenset({"", "title", "untitled", "conversation", "new chat", "chat"})


class InvalidTitle(ValueError):
    """The title is empty or too long; the caller shows ``str(exc)`` to the user."""


def conversation_title_from(content: str) -> str:
    """The first line of the first user message, shortened to fit the sidebar."""
    line = " ".join(content.split())
    if len(line) <= TITLE_CHARS:
        return line
    return line[: TITLE_CHARS - 1].rstrip() + "…"


def conversation_create(*, user: User, title: str = "", model: str = "") -> Conversation:
    """A new conversation, starting from the person's preferences: their custom instructions
    become its system prompt (sent as the system message of every turn, and editable for
    this conversation alone), their default model its model unless one is named."""
    preferences = preferences_get(user=user)
    return Conversation.objects.create(
        owner=user,
        title=title[:200],
        model=(model or preferences.default_model)[:200],
        system_prompt=preferences.custom_instructions,
    )


def conversation_settings_update(
    *, conversation: Conversation, system_prompt: str | None = None, model: str | None = None
) -> Conversation:
    """Change what the owner set for a conversation; None leaves a field as it is. The
    caller has checked that ``model`` is one the owner may use."""
    fields: list[str] = []
    if system_prompt is not None:
        conversation.system_prompt = system_prompt
        fields.append("system_prompt")
    if model is not None:
        conversation.model = model[:200]
        fields.append("model")
    if fields:
        conversation.save(update_fields=[*fields, "updated_at"])
    return conversation


def conversation_rename(*, user: User, id: int, title: str) -> Conversation:
    cleaned = " ".join(title.split())
    if not cleaned:
        raise InvalidTitle(_("A title cannot be empty."))
    if len(cleaned) > TITLE_MAX_CHARS:
        raise InvalidTitle(
            _("A title may be at most %(count)s characters long.") % {"count": TITLE_MAX_CHARS}
        )
    conversation = selectors.conversation_get(user=user, id=id)
    Conversation.objects.filter(pk=conversation.pk).update(title=cleaned)
    conversation.title = cleaned
    async_to_sync(conversation_updated_publish)(conversation=conversation)
    return conversation


def conversation_pin(*, user: User, id: int, pinned: bool) -> Conversation:
    conversation = selectors.conversation_get(user=user, id=id)
    Conversation.objects.filter(pk=conversation.pk).update(pinned=pinned)
    conversation.pinned = pinned
    async_to_sync(conversation_updated_publish)(conversation=conversation)
    return conversation


def conversation_delete(*, user: User, id: int) -> Conversation:
    """Hide the conversation at once (soft delete) and purge the user's conversations whose
    undo window has passed. The messages stay until the purge, so an undo loses nothing.

    Its share links are revoked for good, now: an undo brings the conversation back but not
    its links (a person who deleted a shared conversation meant the link to die; they share
    it again if they want to).

    Under a legal hold (accounts/legal_hold.py) the same happens, and the person sees the
    same, but the purge leaves the conversation alone until the hold is released: hidden
    from them, kept for the hold (docs/operations.md, "Legal hold")."""
    conversation = selectors.conversation_get(user=user, id=id)
    now = timezone.now()
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(deleted_at=now)
        conversation.shares.filter(revoked_at__isnull=True).update(revoked_at=now)
    conversation.deleted_at = now
    conversation_purge_deleted(user=user)
    return conversation


def conversation_restore(*, user: User, id: int) -> Conversation:
    """Undo a delete within ``UNDO_WINDOW``. Raises ``Conversation.DoesNotExist`` for another
    user's id, one not deleted, or one whose window has passed (as good as purged)."""
    window_start = timezone.now() - UNDO_WINDOW
    conversation = Conversation.objects.get(
        owner=user, pk=id, deleted_at__isnull=False, deleted_at__gte=window_start
    )
    Conversation.objects.filter(pk=conversation.pk).update(deleted_at=None)
    conversation.deleted_at = None
    return conversation


def conversation_purge_deleted(*, user: User | None = None) -> int:
    """Delete for good the conversations deleted longer than ``UNDO_WINDOW`` ago (one user's,
    or everyone's). Called on every delete and every minute by the beat (chat/tasks.py);
    the pages never show them meanwhile, and ``conversation_restore`` refuses them. Those
    of a person under a legal hold wait for its release."""
    expired = Conversation.objects.filter(
        deleted_at__isnull=False, deleted_at__lt=timezone.now() - UNDO_WINDOW
    ).exclude(owner_id__in=held_user_ids())
    if user is not None:
        expired = expired.filter(owner=user)
    _total, per_model = expired.delete()
    return per_model.get(Conversation._meta.label, 0)


@transaction.atomic
def conversation_share_create(*, user: User, id: int, ip: str | None = None) -> str:
    """A new read-only link token for the conversation; the previous link stops working.
    Returns the token: only its digest is stored, so this is the one time it is known.
    Audited: a link opens the conversation to anyone who has it."""
    conversation = selectors.conversation_get(user=user, id=id)
    replaced = conversation.shares.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    token = secrets.token_urlsafe(24)
    share = ConversationShare.objects.create(
        conversation=conversation, token_digest=selectors.share_token_digest(token)
    )
    # Neither the token nor its digest: the log must not hold what opens the conversation.
    audit_record(
        actor=user,
        action="chat.share.create",
        target_type="conversation",
        target_id=conversation.pk,
        detail={"share": share.pk, "replaced": replaced},
        ip=ip,
    )
    return token


@transaction.atomic
def conversation_share_revoke(*, user: User, id: int, ip: str | None = None) -> int:
    """Revoke the conversation's link; returns how many were active (0 or 1). Audited when
    a link was live (revoking nothing changes nothing)."""
    conversation = selectors.conversation_get(user=user, id=id)
    revoked = conversation.shares.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        audit_record(
            actor=user,
            action="chat.share.revoke",
            target_type="conversation",
            target_id=conversation.pk,
            detail={"revoked": revoked},
            ip=ip,
        )
    return revoked


# --- Generated titles ----------------------------------------------------------------------


def _title_job(*, message_id: int) -> dict[str, Any] | None:
    """What a title needs, if the message is the first answer of a conversation whose title
    is still the automatic one (taken from the first message); else None."""
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or message.status != Message.Status.COMPLETE or not message.content:
        return None
    conversation = message.conversation
    if conversation.deleted_at is not None:
        return None
    if conversation.messages.filter(role=Message.Role.ASSISTANT).count() != 1:
        return None
    question = message.parent
    if question is None or question.parent_id is not None:
        return None
    fallback = conversation_title_from(question.content)
    if conversation.title != fallback:
        return None  # renamed by the user, or titled already
    return {
        "conversation": conversation,
        "fallback": fallback,
        "question": question.content,
        "answer": message.content,
    }


def _title_store(*, conversation_id: int, expected: str, title: str) -> Conversation | None:
    """Set the title only if it is still ``expected``: a rename meanwhile wins."""
    updated = Conversation.objects.filter(pk=conversation_id, title=expected).update(title=title)
    return Conversation.objects.get(pk=conversation_id) if updated else None


def title_clean(text: str) -> str:
    """The model's reply as a sidebar title: first line, no markdown emphasis or quotes; ""
    when the reply is no title (see ``title_unusable``), so the first question stays."""
    if title_unusable(text):
        return ""
    line = next((part for part in text.splitlines() if part.strip()), "")
    line = re.sub(r"[*_`#>]+", "", line)
    line = line.strip().strip(QUOTES).strip()
    line = re.sub(r"^title:\s*", "", line, flags=re.IGNORECASE).rstrip(".").strip()
    if len(line) > TITLE_CHARS or len(line.split()) > TITLE_MAX_WORDS:
        return ""  # a sentence, not a title: cut short it would describe nothing
    if line.lower().strip(QUOTES + ".!?:") in GENERIC_TITLES:
        return ""
    return line


def title_unusable(text: str) -> bool:
    """A reply that is an answer rather than a title: several paragraphs, or a model's (or
    the emulator's) stock phrases about itself. Such a reply as a title made every
    conversation in the sidebar look alike."""
    lines = [part for part in text.splitlines() if part.strip()]
    return not lines or len(lines) > TITLE_MAX_LINES or bool(TITLE_BOILERPLATE.search(text))


async def conversation_title_generate(*, message_id: int, user: Any) -> str | None:
    """After the first answer of a conversation completes, ask the model for a short title
    (through the gateway, as the user who asked: their access and budget apply) and push it
    to the open pages as ``conversation.updated``. When the gateway fails or answers nothing
    usable, the title taken from the first message stays. Never raises: a title is not worth
    failing an answer for. Returns the new title, or None when there was none to make."""
    if not settings.AIPORTAL_CHAT_TITLES:
        return None
    try:
        job = await database_sync_to_async(_title_job)(message_id=message_id)
        if job is None:
            return None
        title = await _title_from_model(job, user=user) or job["fallback"]
        if title == job["fallback"]:
            return None
        conversation = await database_sync_to_async(_title_store)(
            conversation_id=job["conversation"].pk, expected=job["fallback"], title=title
        )
        if conversation is not None:
            await conversation_updated_publish(conversation=conversation)
        return title if conversation is not None else None
    except Exception:
        logger.warning("titling the conversation of message %s failed", message_id, exc_info=True)
        return None


async def _title_from_model(job: dict[str, Any], *, user: Any) -> str:
    from gateway import GatewayError, caller_for_user, completion_once

    conversation = job["conversation"]
    caller = await caller_for_user(user, conversation_key=f"conversation:{conversation.pk}")
    # Recorded as title generation, not as a chat answer (the admin's usage page).
    caller = dataclasses.replace(caller, usage_source="title")
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": TITLE_PROMPT},
            {"role": "user", "content": job["question"][:2000]},
            {"role": "assistant", "content": job["answer"][:2000]},
            {"role": "user", "content": "The title of this conversation:"},
        ],
        "max_tokens": TITLE_MAX_TOKENS,
    }
    if conversation.model:
        body["model"] = conversation.model
    try:
        async with asyncio.timeout(TITLE_TIMEOUT):
            answer = await completion_once(endpoint="chat/completions", body=body, caller=caller)
    except (GatewayError, TimeoutError) as exc:
        logger.info("no generated title for conversation %s: %r", conversation.pk, exc)
        return ""
    choices = answer.get("choices") or [{}]
    text = ((choices[0] or {}).get("message") or {}).get("content") or ""
    return title_clean(str(text))


async def conversation_updated_publish(*, conversation: Conversation) -> None:
    """Tell every page showing the conversation that its title (or pin) changed. The same
    way the generation publishes (``protocol.frame_publish``); best effort, like
    every frame: a page that misses it shows the new title on its next load."""
    frame = protocol.conversation_updated_frame(
        conversation=selectors.conversation_payload(conversation)
    )
    try:
        await protocol.frame_publish(conversation_id=conversation.pk, frame=frame)
    except Exception:
        logger.warning("publishing conversation.updated failed", exc_info=True)
