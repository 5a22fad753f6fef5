"""Who may read an attachment: its owner (one of their own, unsent or in a conversation not
deleted), and whoever holds a live share link of its conversation (an attachment of the
branch that link's page shows).

As everywhere in the chat's selectors, another user's id raises the same ``DoesNotExist`` as
an unknown one.
"""

from __future__ import annotations

from django.db.models import Q

from accounts.models import User
from chat.models import Attachment, Conversation
from chat.selectors.conversations import conversation_share_find
from chat.selectors.messages import conversation_thread


def attachment_get(*, user: User, id: int) -> Attachment:
    """The user's attachment, unsent or in one of their conversations not deleted."""
    return Attachment.objects.get(
        Q(conversation__isnull=True) | Q(conversation__deleted_at__isnull=True),
        owner=user,
        pk=id,
    )


def attachment_shared_get(*, token: str, id: int) -> Attachment:
    """An attachment of a message on the branch a live share link shows. Raises
    ``Attachment.DoesNotExist`` for anything else (an unknown or revoked link too)."""
    try:
        conversation = conversation_share_find(token=token)
    except Conversation.DoesNotExist:
        raise Attachment.DoesNotExist("no such shared attachment") from None
    shown = [m.pk for m in conversation_thread(conversation=conversation)]
    return Attachment.objects.get(conversation=conversation, message_id__in=shown, pk=id)
