"""Who may do what with an assistant, read live from the grants on every call (no cache: a
revoked grant must take effect on the very next request and the very next chat turn), and
the assistant as the chat reads it for a turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeGuard, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from assistants.models import Assistant, AssistantGrant, Level

# Without django-stubs mypy reads a Choices member as the tuple that defines it.
USE = cast(Level, Level.USE)
EDIT = cast(Level, Level.EDIT)
MANAGE = cast(Level, Level.MANAGE)


def _usable(user: User | None) -> TypeGuard[User]:
    return user is not None and user.is_authenticated and user.is_active


def assistant_grants_live(*, user: User) -> QuerySet[AssistantGrant]:
    """The grants that apply to ``user`` now: their own and their groups'. Group membership
    is read in the same query, so leaving a group counts at once."""
    return AssistantGrant.objects.filter(Q(user=user) | Q(group__in=user.groups.values("pk")))


def assistant_level_for(*, user: User | None, assistant: Assistant) -> Level | None:
    """The owner manages; anyone else has the highest of their live grants, or nothing. An
    organisation assistant has no owner: grants alone open it (staff included)."""
    if not _usable(user):
        return None
    if assistant.owner_id is not None and assistant.owner_id == user.pk:
        return MANAGE
    best = (
        assistant_grants_live(user=user)
        .filter(assistant=assistant)
        .aggregate(level=Max("level"))["level"]
    )
    return None if best is None else Level(best)


def assistant_list_usable(*, user: User | None, at_least: Level = USE) -> QuerySet[Assistant]:
    """Assistants the user may at least ``at_least``: their own, and those granted to them
    or to one of their groups."""
    if not _usable(user):
        return Assistant.objects.none()
    granted = assistant_grants_live(user=user).filter(assistant=OuterRef("pk"), level__gte=at_least)
    return Assistant.objects.filter(Q(owner=user) | Exists(granted)).order_by("name", "id")


def assistant_get_usable(*, user: User | None, id: int, at_least: Level = USE) -> Assistant:
    """Raises ``Assistant.DoesNotExist`` for a missing id and for one the user may not reach
    at ``at_least`` alike: nobody learns which assistants exist."""
    try:
        assistant = Assistant.objects.get(pk=id)
    except (ValueError, TypeError):
        raise Assistant.DoesNotExist from None
    level = assistant_level_for(user=user, assistant=assistant)
    if level is None or level < at_least:
        raise Assistant.DoesNotExist
    return assistant


def assistant_level_require(
    *, user: User | None, assistant: Assistant, level: Level, as_admin: bool = False
) -> Level:
    """For services: no level at all → ``Assistant.DoesNotExist`` (a 404); too low →
    ``PermissionDenied`` saying what is needed. ``as_admin``: the Django admin acts on the
    staff member's model permissions (which it checked); only active staff may."""
    if as_admin:
        if not (_usable(user) and user.is_staff):
            raise PermissionDenied("Only staff act on assistants from the admin.")
        return MANAGE
    have = assistant_level_for(user=user, assistant=assistant)
    if have is None:
        raise Assistant.DoesNotExist
    if have < level:
        raise PermissionDenied(
            _("This needs the %(level)s level on “%(name)s”.")
            % {"level": level.label, "name": assistant.name}
        )
    return have


def assistant_levels_for(*, user: User | None, assistants: list[Assistant]) -> dict[int, Level]:
    """``assistant_level_for`` of many assistants in one query (a list page)."""
    if not _usable(user):
        return {}
    levels = {a.pk: MANAGE for a in assistants if a.owner_id == user.pk}
    rest = [a.pk for a in assistants if a.pk not in levels]
    if rest:
        rows = (
            assistant_grants_live(user=user)
            .filter(assistant_id__in=rest)
            .values("assistant_id")
            .annotate(level=Max("level"))
        )
        levels.update({row["assistant_id"]: Level(row["level"]) for row in rows})
    return levels


def assistant_grant_list(*, user: User | None, assistant: Assistant) -> QuerySet[AssistantGrant]:
    """The assistant's grants; managers only."""
    assistant_level_require(user=user, assistant=assistant, level=MANAGE)
    return (
        AssistantGrant.objects.filter(assistant=assistant)
        .select_related("user", "group")
        .order_by("id")
    )


def assistant_payload(assistant: Assistant, *, level: Level) -> dict[str, object]:
    """An assistant as the chat page's picker and header show it. Its instructions and
    datasets only to those who may edit it: an organisation's prompt is its own work."""
    data: dict[str, object] = {
        "id": assistant.pk,
        "name": assistant.name,
        "icon": assistant.icon,
        "colour": assistant.colour,
        "description": assistant.description,
        "model": assistant.model,
        "starter_prompts": list(assistant.starter_prompts or []),
        "organisation": assistant.organisation,
        "level": Level(level).name.lower(),
    }
    if level >= EDIT:
        data["system_prompt"] = assistant.system_prompt
        data["datasets"] = list(assistant.datasets or [])
    return data


@dataclass(frozen=True)
class AssistantTurn:
    """What an assistant brings to one chat turn (``assistant_turn_settings``)."""

    id: int
    name: str
    system_prompt: str
    model: str  # "" = any
    datasets: list[int] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)  # checked against the person each turn
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class AssistantUnavailable(Exception):
    """The conversation's assistant is gone, or the person may no longer use it."""


def assistant_turn_settings(*, user: User, id: int) -> AssistantTurn:
    """The assistant of a conversation, read through the live grants for this turn. Raises
    ``AssistantUnavailable`` when the person lost ``use`` on it (or it was deleted)."""
    try:
        assistant = assistant_get_usable(user=user, id=id)
    except Assistant.DoesNotExist:
        raise AssistantUnavailable(id) from None
    return AssistantTurn(
        id=assistant.pk,
        name=assistant.name,
        system_prompt=assistant.system_prompt.strip(),
        model=assistant.model,
        datasets=list(assistant.datasets or []),
        tools=list(assistant.tools or []),
        temperature=assistant.temperature,
        top_p=assistant.top_p,
        max_tokens=assistant.max_tokens,
    )
