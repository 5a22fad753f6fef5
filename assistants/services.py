"""Writes for assistants: making, changing and deleting one, and sharing it (grants).

Each checks the person's live level first (``assistant_level_require``), validates every
field (``Assistant.clean``) before anything is written, and raises ``ValueError`` with a
message for the person when a value is wrong: nothing is half-stored. Grant changes are
audited, like datasets' are."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from assistants.models import Assistant, AssistantGrant, Level
from assistants.selectors import EDIT, MANAGE, assistant_level_require

# What a person may set on an assistant (the owner is set by who makes it).
FIELDS = (
    "name",
    "icon",
    "colour",
    "description",
    "system_prompt",
    "model",
    "datasets",
    "tools",
    "temperature",
    "top_p",
    "max_tokens",
    "starter_prompts",
)


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(str(m) for messages in exc.message_dict.values() for m in messages)
    return " ".join(str(m) for m in exc.messages)


def _validated(assistant: Assistant) -> None:
    try:
        assistant.full_clean(exclude=["owner"])
    except ValidationError as exc:
        raise ValueError(_message(exc)) from None


@transaction.atomic
def assistant_create(
    *, user: User, organisation: bool = False, ip: str | None = None, **fields: Any
) -> Assistant:
    """A new assistant owned by ``user``; ``organisation`` (staff only, the admin's way):
    nobody owns it and grants alone open it."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(_("Unknown fields: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    if organisation and not (user.is_active and user.is_staff):
        raise ValueError(_("Only staff make organisation assistants."))
    assistant = Assistant(owner=None if organisation else user, **fields)
    _validated(assistant)
    assistant.save()
    audit_record(
        actor=user,
        action="assistant.create",
        target_type="assistant",
        target_id=assistant.pk,
        detail={"name": assistant.name, "organisation": organisation},
        ip=ip,
    )
    return assistant


@transaction.atomic
def assistant_update(
    *, assistant: Assistant, user: User, as_admin: bool = False, **fields: Any
) -> Assistant:
    """Change the given fields; needs the edit level."""
    assistant_level_require(user=user, assistant=assistant, level=EDIT, as_admin=as_admin)
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(_("Unknown fields: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    # Locked: two editors saving at once each get a whole assistant, never a mix.
    current = Assistant.objects.select_for_update().get(pk=assistant.pk)
    for name, value in fields.items():
        setattr(current, name, value)
    _validated(current)
    current.save()
    return current


@transaction.atomic
def assistant_delete(
    *, assistant: Assistant, user: User, as_admin: bool = False, ip: str | None = None
) -> None:
    """Needs the manage level. Conversations that used it keep their messages and lose the
    link (``SET_NULL``): they go on as plain conversations."""
    assistant_level_require(user=user, assistant=assistant, level=MANAGE, as_admin=as_admin)
    audit_record(
        actor=user,
        action="assistant.delete",
        target_type="assistant",
        target_id=assistant.pk,
        detail={"name": assistant.name},
        ip=ip,
    )
    assistant.delete()


def _level(level: Level | int | str) -> Level:
    try:
        return Level(int(level))
    except (TypeError, ValueError):
        raise ValueError(
            _("%(level)r is not a level (use, edit or manage).") % {"level": level}
        ) from None


@transaction.atomic
def assistant_grant_add(
    *,
    assistant: Assistant,
    user: User,
    level: Level | int,
    for_user: User | None = None,
    for_group: Group | None = None,
    as_admin: bool = False,
    ip: str | None = None,
) -> AssistantGrant:
    """Give ``for_user`` or ``for_group`` ``level`` (replacing the level they had). Needs the
    manage level; takes effect on the very next request or turn."""
    assistant_level_require(user=user, assistant=assistant, level=MANAGE, as_admin=as_admin)
    if (for_user is None) == (for_group is None):
        raise ValueError(_("Share with one person or one group."))
    level = _level(level)
    if for_user is not None and for_user.pk == assistant.owner_id:
        raise ValueError(_("The owner already manages the assistant."))
    who = {"user": for_user} if for_user is not None else {"group": for_group}
    grant, _created = AssistantGrant.objects.update_or_create(
        assistant=assistant, **who, defaults={"level": level, "created_by": user}
    )
    audit_record(
        actor=user,
        action="assistant.grant.set",
        target_type="assistant",
        target_id=assistant.pk,
        detail={
            "grant": grant.pk,
            "user": for_user.email if for_user is not None else None,
            "group": for_group.name if for_group is not None else None,
            "level": level.name.lower(),
        },
        ip=ip,
    )
    return grant


def assistant_grant_add_for(
    *, assistant: Assistant, user: User, who: str, level: Level | int, ip: str | None = None
) -> AssistantGrant | None:
    """The sharing form's way: ``who`` is an email address or a group name. Someone or a
    group that does not exist gets nothing, and the caller answers the same either way, so
    the form tells nobody who has an account. Raises ValueError for a malformed ``who``."""
    assistant_level_require(user=user, assistant=assistant, level=MANAGE)
    level = _level(level)
    who = who.strip()
    if "@" in who:
        try:
            validate_email(who)
        except ValidationError:
            raise ValueError(_("“%(who)s” is not an email address.") % {"who": who}) from None
        person = User.objects.filter(email__iexact=who, is_active=True).first()
        if person is None or person.pk == assistant.owner_id:
            return None
        return assistant_grant_add(
            assistant=assistant, user=user, level=level, for_user=person, ip=ip
        )
    if not who or len(who) > 150:
        raise ValueError(_("Enter an email address or a group name."))
    group = Group.objects.filter(name=who).first()
    if group is None:
        return None
    return assistant_grant_add(assistant=assistant, user=user, level=level, for_group=group, ip=ip)


@transaction.atomic
def assistant_grant_remove(
    *, grant: AssistantGrant, user: User, as_admin: bool = False, ip: str | None = None
) -> None:
    """Remove a grant. Needs the manage level; takes effect on the very next turn."""
    assistant_level_require(user=user, assistant=grant.assistant, level=MANAGE, as_admin=as_admin)
    audit_record(
        actor=user,
        action="assistant.grant.revoke",
        target_type="assistant",
        target_id=grant.assistant_id,
        detail={
            "grant": grant.pk,
            "user": grant.user.email if grant.user_id else None,
            "group": grant.group.name if grant.group_id else None,
            "level": Level(grant.level).name.lower(),
        },
        ip=ip,
    )
    grant.delete()
