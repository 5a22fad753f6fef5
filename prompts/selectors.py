"""Reading saved prompts, always through the person asking: a prompt they may not see is
missing, exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from accounts.models import User
from prompts.models import SavedPrompt
from prompts.template import template_parse

QUERY_MAX = 100

# The sources, in the order the composer lists them.
OWN, SHARED, ORGANISATION = 0, 1, 2
SOURCE_NAMES = {OWN: "own", SHARED: "shared", ORGANISATION: "organisation"}


def _visible(user: User) -> QuerySet[SavedPrompt]:
    links = SavedPrompt.groups.through.objects.filter(savedprompt_id=OuterRef("pk"))
    in_my_groups = Exists(links.filter(group_id__in=user.groups.values("pk")))
    return (
        SavedPrompt.objects.filter(
            Q(owner=user)
            | (Q(owner__isnull=False) & in_my_groups)
            | (Q(owner__isnull=True) & (~Exists(links) | in_my_groups))
        )
        .select_related("owner")
        .prefetch_related("groups")  # an own prompt's payload and row name its groups
        .annotate(
            source=Case(
                When(owner=user, then=Value(OWN)),
                When(owner__isnull=True, then=Value(ORGANISATION)),
                default=Value(SHARED),
                output_field=IntegerField(),
            )
        )
    )


def prompt_list_visible(
    *, user: User, query: str = "", limit: int | None = None
) -> list[SavedPrompt]:
    """The prompts ``user`` may use whose command, title or text holds ``query`` (a leading
    "/" ignored), ranked: their own first, then those shared with their groups, then the
    organisation's; within each, a command that starts with the query, then a title that
    holds it, then the rest, by command."""
    query = query.strip().removeprefix("/")[:QUERY_MAX]
    prompts = _visible(user)
    if query:
        prompts = prompts.filter(
            Q(command__icontains=query) | Q(title__icontains=query) | Q(body__icontains=query)
        ).annotate(
            match=Case(
                When(command__istartswith=query, then=Value(0)),
                When(title__icontains=query, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
    else:
        prompts = prompts.annotate(match=Value(0, output_field=IntegerField()))
    prompts = prompts.order_by("source", "match", "command", "id")
    return list(prompts[:limit] if limit else prompts)


def prompt_get_visible(*, user: User, id: int) -> SavedPrompt:
    """One prompt ``user`` may use; ``SavedPrompt.DoesNotExist`` otherwise."""
    prompt: SavedPrompt = _visible(user).get(pk=id)
    return prompt


def prompt_get_own(*, user: User, id: int) -> SavedPrompt:
    """One of ``user``'s own prompts, the only ones they may change; ``DoesNotExist`` for any
    other, a shared or organisation one included."""
    prompt: SavedPrompt = SavedPrompt.objects.prefetch_related("groups").get(pk=id, owner=user)
    return prompt


def prompt_list_own(*, user: User) -> QuerySet[SavedPrompt]:
    return SavedPrompt.objects.filter(owner=user).prefetch_related("groups").order_by("command")


def prompt_groups_shareable(*, user: User) -> QuerySet[Group]:
    """The groups ``user`` may share a prompt with: those they belong to."""
    return user.groups.order_by("name")


def prompt_payload(prompt: SavedPrompt, *, user: User) -> dict[str, Any]:
    """A prompt as the page's scripts receive it. The text goes with its ``parts`` and
    ``variables`` (prompts/template.py), so the browser never parses it."""
    source = getattr(prompt, "source", None)
    if source is None:
        source = (
            OWN
            if prompt.owner_id == user.pk
            else ORGANISATION
            if prompt.owner_id is None
            else SHARED
        )
    payload: dict[str, Any] = {
        "id": prompt.pk,
        "title": prompt.title,
        "command": prompt.command,
        "description": prompt.description,
        "body": prompt.body,
        "source": SOURCE_NAMES[source],
        "editable": source == OWN,
        "shared_by": prompt.owner.email if source == SHARED and prompt.owner else None,
        **template_parse(prompt.body).as_json(),
    }
    if source == OWN:
        payload["groups"] = sorted(group.pk for group in prompt.groups.all())
    return payload
