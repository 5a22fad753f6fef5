"""A conversation's assistant in each turn: read again through the live grants (a person who
lost ``use`` on it is refused before anything is written), and what it brings put in place:
its instructions before the conversation's own system prompt, its model when it names one,
its sampling settings, and its datasets beside the person's (chat/services/retrieval.py
keeps only those the person may query, as for their own)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from accounts.models import User
from assistants.selectors import AssistantTurn, AssistantUnavailable, assistant_turn_settings
from chat.models import Conversation
from gateway import Sampling

__all__ = [
    "AssistantTurn",
    "AssistantUnavailable",
    "assistant_refusal",
    "assistant_sampling",
    "context_assistant_apply",
    "conversation_assistant",
]


def conversation_assistant(*, user: User, conversation: Conversation) -> AssistantTurn | None:
    """The conversation's assistant for this turn, None when it has none. Raises
    ``AssistantUnavailable`` when the person may no longer use it."""
    if conversation.assistant_id is None:
        return None
    return assistant_turn_settings(user=user, id=conversation.assistant_id)


def context_assistant_apply(
    context: list[dict[str, str]], assistant: AssistantTurn | None
) -> list[dict[str, str]]:
    """The assistant's instructions first, then the conversation's own system prompt (or the
    admins' default) in the same leading system message: one system message, as models
    expect, with the person's own words last so they refine the assistant's."""
    if assistant is None or not assistant.system_prompt:
        return context
    if context and context[0].get("role") == "system":
        merged = f"{assistant.system_prompt}\n\n{context[0]['content']}"
        return [{"role": "system", "content": merged}, *context[1:]]
    return [{"role": "system", "content": assistant.system_prompt}, *context]


def assistant_sampling(assistant: AssistantTurn | None) -> Sampling | None:
    """The assistant's temperature and top_p, those it sets; None when it sets neither."""
    if assistant is None:
        return None
    sampling: Sampling = {}
    if assistant.temperature is not None:
        sampling["temperature"] = assistant.temperature
    if assistant.top_p is not None:
        sampling["top_p"] = assistant.top_p
    return sampling or None


def assistant_refusal(*, new: bool) -> str:
    """What the person reads when the assistant cannot be used (in their language)."""
    if new:
        return _("This assistant is not available to you.")
    return _(
        "You can no longer use this conversation's assistant: it is no longer shared with you. "
        "Start a new chat to go on."
    )
