"""Writing a person's preferences."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.models import Preferences, User
from common.text import text_refusal

# The instructions travel as a system message with every turn of a new chat: as long as one
# message may be, no longer.
INSTRUCTIONS_MAX_CHARS = settings.AIPORTAL_MAX_MESSAGE_CHARS


class PreferencesRefused(ValueError):
    """A value that cannot be kept; the message says which and why."""


def preferences_update(
    *, user: User, default_model: str, custom_instructions: str, theme: str, language: str
) -> Preferences:
    if theme not in Preferences.Theme.values:
        raise PreferencesRefused(_("Choose a theme: like the system, light or dark."))
    # Blank: like the browser.
    if language and language not in dict(settings.LANGUAGES):
        raise PreferencesRefused(_("Choose one of the languages offered."))
    instructions = custom_instructions.strip()
    if len(instructions) > INSTRUCTIONS_MAX_CHARS:
        raise PreferencesRefused(
            _("Custom instructions may be %(count)s characters at most.")
            % {"count": INSTRUCTIONS_MAX_CHARS}
        )
    if why := text_refusal(instructions):
        raise PreferencesRefused(_("Custom instructions: %(why)s") % {"why": why})
    preferences, _created = Preferences.objects.update_or_create(
        user=user,
        defaults={
            "default_model": default_model.strip()[:200],
            "custom_instructions": instructions,
            "theme": theme,
            "language": language,
        },
    )
    return preferences
