"""Chat's part of the retention purge (retention/services/purge.py): one bounded batch of
conversations whose last activity is older than a cutoff, for a given set of owners.

A conversation's last activity is ``updated_at``: every turn and every streamed answer
moves it (chat/services/messages.py). Deleting the conversation takes its messages, its
attachments (their files are unlinked once the batch commits, chat/services/attachments.py)
and nothing of its share links but the link to it: they stay as digests, so their page says
the conversation is gone (chat/views/conversations.py).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.db import transaction

from accounts.legal_hold import held_user_ids
from accounts.models import User
from chat.models import Attachment, Conversation, Message


def conversation_expired_purge_batch(
    *,
    before: datetime,
    owner_ids: Collection[int] | None,
    exclude_owner_ids: Collection[int] = (),
    limit: int,
) -> dict[str, int]:
    """Delete at most ``limit`` conversations last active before ``before`` whose owner is
    in ``owner_ids`` (None: anyone) and not in ``exclude_owner_ids``, never one of a person
    under a legal hold. One transaction: a kill loses nothing and leaves nothing half-done.
    Returns how many conversations, messages and attachments went."""
    with transaction.atomic():
        candidates = Conversation.objects.filter(updated_at__lt=before)
        if owner_ids is not None:
            candidates = candidates.filter(owner_id__in=list(owner_ids))
        if exclude_owner_ids:
            candidates = candidates.exclude(owner_id__in=list(exclude_owner_ids))
        picked = list(
            candidates.exclude(owner_id__in=held_user_ids())
            .order_by("updated_at", "id")
            .values_list("pk", "owner_id")[:limit]
        )
        if not picked:
            return {"conversations": 0, "messages": 0, "attachments": 0}
        # Lock the owners (a legal hold being placed locks its person too, accounts/
        # legal_hold.py) and the conversations (a new turn updates its conversation's row),
        # then look again: a hold or a turn that came first wins over the purge.
        owners = sorted({owner_id for _pk, owner_id in picked})
        list(User.objects.select_for_update().filter(pk__in=owners).values_list("pk", flat=True))
        ids = list(
            Conversation.objects.select_for_update()
            .filter(pk__in=[pk for pk, _owner in picked], updated_at__lt=before)
            .exclude(owner_id__in=held_user_ids())
            .values_list("pk", flat=True)
        )
        _total, per_model = Conversation.objects.filter(pk__in=ids).delete()
    return {
        "conversations": per_model.get(Conversation._meta.label, 0),
        "messages": per_model.get(Message._meta.label, 0),
        "attachments": per_model.get(Attachment._meta.label, 0),
    }
