"""Grants: who may use a dataset, at which level, until when.

Every change to a grant, and every change of a group's members, is announced to the users it
concerns (``datasets.changed`` on ``datasets.user.<id>``) by the receivers at the bottom, so
the admin's edits reach open pages exactly like the services' do."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from datasets.models import Dataset, Grant, Level
from datasets.selectors import dataset_level_require
from datasets.services.events import datasets_changed_publish


@transaction.atomic
def grant_set(
    *,
    dataset: Dataset,
    user: User,
    level: Level | int,
    for_user: User | None = None,
    for_group: Group | None = None,
    expires_at: datetime | None = None,
    as_admin: bool = False,
    ip: str | None = None,
) -> Grant:
    """Give ``for_user`` or ``for_group`` ``level`` on the dataset (replacing the level they
    had). Needs the manage level. Raises ValueError with a message for the person."""
    dataset_level_require(user=user, dataset=dataset, level=Level.MANAGE, as_admin=as_admin)
    if (for_user is None) == (for_group is None):
        raise ValueError(_("Grant to one person or one group."))
    try:
        level = Level(int(level))
    except ValueError:
        raise ValueError(
            _("%(level)r is not a level (view, query, edit or manage).") % {"level": level}
        ) from None
    if for_user is not None and for_user.pk == dataset.owner_id:
        raise ValueError(_("The owner already manages the dataset."))
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError(_("The expiry is in the past: the grant would never apply."))
    who = {"user": for_user} if for_user is not None else {"group": for_group}
    grant, _created = Grant.objects.update_or_create(
        dataset=dataset,
        **who,
        defaults={"level": level, "expires_at": expires_at, "created_by": user},
    )
    audit_record(
        actor=user,
        action="dataset.grant.set",
        target_type="dataset",
        target_id=dataset.pk,
        detail={
            "grant": grant.pk,
            "user": for_user.email if for_user is not None else None,
            "group": for_group.name if for_group is not None else None,
            # The level's code (view, query…), not its label: audit details stay in
            # one language whatever the admin's.
            "level": level.name.lower(),
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        ip=ip,
    )
    return grant


@transaction.atomic
def grant_revoke(
    *, grant: Grant, user: User, as_admin: bool = False, ip: str | None = None
) -> None:
    """Remove a grant. Needs the manage level; takes effect on the very next query."""
    dataset_level_require(user=user, dataset=grant.dataset, level=Level.MANAGE, as_admin=as_admin)
    audit_record(
        actor=user,
        action="dataset.grant.revoke",
        target_type="dataset",
        target_id=grant.dataset_id,
        detail={
            "grant": grant.pk,
            "user": grant.user.email if grant.user_id else (grant.pending_email or None),
            "group": grant.group.name if grant.group_id else (grant.pending_group or None),
            # The level's code (view, query…), not its label: audit details stay in
            # one language whatever the admin's.
            "level": Level(grant.level).name.lower(),
        },
        ip=ip,
    )
    grant.delete()


# --- Announcing -------------------------------------------------------------------------------


def _grant_users(grant: Grant) -> list[int]:
    if grant.user_id is not None:
        return [grant.user_id]
    if grant.group_id is not None:
        return list(User.objects.filter(groups=grant.group_id).values_list("pk", flat=True))
    return []


def _grant_changed(instance: Grant, **_: object) -> None:
    datasets_changed_publish(user_ids=_grant_users(instance))


def _membership_changed(instance, action: str, reverse: bool, pk_set, **_: object) -> None:
    if action not in {"post_add", "post_remove", "pre_clear"}:
        return
    if not reverse:  # user.groups.add(...): instance is the user
        datasets_changed_publish(user_ids=[instance.pk])
    elif pk_set:  # group.user_set.add(...): pk_set are users
        datasets_changed_publish(user_ids=pk_set)
    elif action == "pre_clear":  # group.user_set.clear(): read the members before they go
        datasets_changed_publish(user_ids=instance.user_set.values_list("pk", flat=True))


post_save.connect(_grant_changed, sender=Grant, dispatch_uid="datasets-grant-save")
post_delete.connect(_grant_changed, sender=Grant, dispatch_uid="datasets-grant-delete")
m2m_changed.connect(
    _membership_changed, sender=User.groups.through, dispatch_uid="datasets-group-members"
)
