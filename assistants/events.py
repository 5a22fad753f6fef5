"""Telling open chat pages that the assistants a person may use changed: a grant given or
removed, an assistant deleted, the person joining or leaving a group. The page fetches its
picker again (static/chat/assistants.js), so a revoked assistant leaves it at once; every
turn checks the grants again anyway (chat/services/assistant_turn.py).

Sent on the person's ``datasets_group`` (common/websockets.py), the group every chat socket
already follows for "what you may pick changed", as ``assistants.changed``. Best effort
and after the commit, like datasets' announcements: a page that misses one shows the truth
on its next load, and no write fails because Redis hiccupped."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.models import User
from assistants.models import AssistantGrant
from common.websockets import datasets_group

logger = logging.getLogger(__name__)

EVENT = {"type": "assistants.changed"}


def assistants_changed_publish(*, user_ids: Iterable[int]) -> None:
    ids = sorted(set(user_ids))
    if not ids:
        return

    def send() -> None:
        layer = get_channel_layer()
        for user_id in ids:
            try:
                async_to_sync(layer.group_send)(datasets_group(user_id), dict(EVENT))
            except Exception:
                logger.warning("telling user %s about assistants failed", user_id, exc_info=True)

    transaction.on_commit(send)


def _grant_users(grant: AssistantGrant) -> list[int]:
    if grant.user_id is not None:
        return [grant.user_id]
    if grant.group_id is not None:
        return list(User.objects.filter(groups=grant.group_id).values_list("pk", flat=True))
    return []


def _grant_changed(instance: AssistantGrant, **_: object) -> None:
    # A deleted assistant deletes its grants (cascade): its grantees hear of it here too.
    assistants_changed_publish(user_ids=_grant_users(instance))


def _membership_changed(instance, action: str, reverse: bool, pk_set, **_: object) -> None:
    if action not in {"post_add", "post_remove", "pre_clear"}:
        return
    if not reverse:  # user.groups.add(...): instance is the user
        assistants_changed_publish(user_ids=[instance.pk])
    elif pk_set:  # group.user_set.add(...): pk_set are users
        assistants_changed_publish(user_ids=pk_set)
    elif action == "pre_clear":  # group.user_set.clear(): read the members before they go
        assistants_changed_publish(user_ids=instance.user_set.values_list("pk", flat=True))


post_save.connect(_grant_changed, sender=AssistantGrant, dispatch_uid="assistants-grant-save")
post_delete.connect(_grant_changed, sender=AssistantGrant, dispatch_uid="assistants-grant-delete")
m2m_changed.connect(
    _membership_changed, sender=User.groups.through, dispatch_uid="assistants-group-members"
)
