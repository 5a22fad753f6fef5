"""Writing a person's preferences."""

from __future__ import annotations

from django.conf import settings

from accounts.models import Preferences, User
from common.text import text_refusal

# The instructions travel as a system message with every turn of a new chat: as long as one
# message may be, no longer.
INSTRUCTIONS_MAX_CHARS = settings.AIPORTAL_MAX_MESSAGE_CHARS


class PreferencesRefused(ValueError):
    """A value that cannot be kept; the message says which and why."""


def preferences_update(
    *, user: User, default_model: str, custom_instructions: str, theme: str
) -> Preferences:
    if theme not in Preferences.Theme.values:
        raise PreferencesRefused("Choose a theme: like the system, light or dark.")
    instructions = custom_instructions.strip()
    if len(instructions) > INSTRUCTIONS_MAX_CHARS:
        raise PreferencesRefused(
            f"Custom instructions may be {INSTRUCTIONS_MAX_CHARS} characters at most."
        )
    if why := text_refusal(instructions):
        raise PreferencesRefused(f"Custom instructions: {why}")
    preferences, _created = Preferences.objects.update_or_create(
        user=user,
        defaults={
            "default_model": default_model.strip()[:200],
            "custom_instructions": instructions,
            "theme": theme,
        },
    )
    return preferences
