"""The rules a saved prompt's fields follow, in one place: the services, the import and the
admin's form (through ``SavedPrompt.clean``) all check them here."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.translation import gettext as _

from common.text import text_refusal
from prompts.template import template_parse

TITLE_MAX = 200
COMMAND_MAX = 50
DESCRIPTION_MAX = 500
VARIABLES_MAX = 20
# Lowercase so that "/Summary" and "/summary" are one command, typed either way.
COMMAND = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")  # 49: COMMAND_MAX - 1


def command_clean(command: str) -> str:
    """How a typed command is stored: without the leading "/", trimmed, lowercase."""
    return command.strip().removeprefix("/").lower()


def prompt_fields_check(*, title: str, command: str, body: str, description: str) -> dict[str, str]:
    """Each field's first problem, as a sentence for the person; empty when all are fine.
    ``command`` is expected already cleaned (``command_clean``)."""
    errors: dict[str, str] = {}
    for field, value in (
        ("title", title),
        ("command", command),
        ("body", body),
        ("description", description),
    ):
        why = text_refusal(value)
        if why:
            errors[field] = why
    if not title.strip():
        errors.setdefault("title", _("Give the prompt a title."))
    elif len(title) > TITLE_MAX:
        errors.setdefault(
            "title", _("A title is at most %(count)d characters.") % {"count": TITLE_MAX}
        )
    if not COMMAND.fullmatch(command):
        errors.setdefault(
            "command",
            _(
                "A command is 1 to %(count)d lowercase letters, digits, - or _, starting with "
                "a letter or a digit (e.g. summarise-email)."
            )
            % {"count": COMMAND_MAX},
        )
    limit = settings.AIPORTAL_MAX_MESSAGE_CHARS
    if not body.strip():
        errors.setdefault("body", _("Write the prompt's text."))
    elif len(body) > limit:
        errors.setdefault(
            "body",
            _("The text is at most %(count)d characters, as a message is.") % {"count": limit},
        )
    elif len(template_parse(body).variables) > VARIABLES_MAX:
        errors.setdefault(
            "body",
            _("A prompt has at most %(count)d different variables.") % {"count": VARIABLES_MAX},
        )
    if len(description) > DESCRIPTION_MAX:
        errors.setdefault(
            "description",
            _("A description is at most %(count)d characters.") % {"count": DESCRIPTION_MAX},
        )
    return errors
