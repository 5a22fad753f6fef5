"""Writing saved prompts. Only the owner changes or deletes a prompt; organisation prompts
are the admin's (prompts/admin.py)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import User
from prompts.models import SavedPrompt
from prompts.selectors import prompt_get_own, prompt_groups_shareable
from prompts.validation import command_clean, prompt_fields_check


class PromptInvalid(ValueError):
    """The fields break a rule: ``errors`` maps each field to a sentence saying what to do."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _duplicate(command: str) -> dict[str, str]:
    return {
        "command": _("You already have a prompt /%(command)s: choose another command.")
        % {"command": command}
    }


def _checked(
    *, user: User, title: str, command: str, body: str, description: str, groups: Iterable[int]
) -> tuple[dict[str, str], list[int]]:
    fields = {"title": title.strip(), "command": command_clean(command), "body": body}
    fields["description"] = description.strip()
    errors = prompt_fields_check(**fields)
    wanted = sorted(set(groups))
    allowed = set(
        prompt_groups_shareable(user=user).filter(pk__in=wanted).values_list("pk", flat=True)
    )
    if set(wanted) - allowed:
        errors["groups"] = _("You can share a prompt only with groups you belong to.")
    if errors:
        raise PromptInvalid(errors)
    return fields, wanted


def prompt_create(
    *,
    user: User,
    title: str,
    command: str,
    body: str,
    description: str = "",
    groups: Iterable[int] = (),
) -> SavedPrompt:
    """A new prompt of ``user``'s, shared read-only with ``groups`` (ids of groups they
    belong to). ``PromptInvalid`` when a field breaks a rule or the command is taken."""
    fields, group_ids = _checked(
        user=user, title=title, command=command, body=body, description=description, groups=groups
    )
    if SavedPrompt.objects.filter(owner=user, command=fields["command"]).exists():
        raise PromptInvalid(_duplicate(fields["command"]))
    try:
        with transaction.atomic():
            prompt: SavedPrompt = SavedPrompt.objects.create(owner=user, **fields)
            prompt.groups.set(group_ids)
    except IntegrityError:  # the same command saved at the same moment, by another tab
        raise PromptInvalid(_duplicate(fields["command"])) from None
    return prompt


def prompt_update(
    *,
    user: User,
    id: int,
    title: str,
    command: str,
    body: str,
    description: str,
    groups: Iterable[int],
) -> SavedPrompt:
    """Change one of ``user``'s own prompts; ``SavedPrompt.DoesNotExist`` for anyone else's
    (a prompt shared with them included), ``PromptInvalid`` for a bad field."""
    prompt = prompt_get_own(user=user, id=id)
    fields, group_ids = _checked(
        user=user, title=title, command=command, body=body, description=description, groups=groups
    )
    taken = SavedPrompt.objects.filter(owner=user, command=fields["command"]).exclude(pk=id)
    if taken.exists():
        raise PromptInvalid(_duplicate(fields["command"]))
    try:
        with transaction.atomic():
            for name, value in fields.items():
                setattr(prompt, name, value)
            prompt.save()
            # Exactly the groups named now: one the person has left is unshared by the edit.
            prompt.groups.set(group_ids)
    except IntegrityError:
        raise PromptInvalid(_duplicate(fields["command"])) from None
    return prompt


def prompt_delete(*, user: User, id: int) -> None:
    """Delete one of ``user``'s own prompts; ``SavedPrompt.DoesNotExist`` for any other."""
    prompt_get_own(user=user, id=id).delete()
