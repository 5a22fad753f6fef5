"""A person's preferences (``accounts.models.Preferences``): read with ``preferences_get``,
written with ``preferences_update``. The chat applies the default model and the custom
instructions to new conversations (chat/services/conversations.py); every page applies the
theme (aiportal/context_processors.py, static/chat/theme.js)."""

from accounts.preferences.selectors import preferences_get
from accounts.preferences.services import (
    INSTRUCTIONS_MAX_CHARS,
    PreferencesRefused,
    preferences_update,
)

__all__ = ["INSTRUCTIONS_MAX_CHARS", "PreferencesRefused", "preferences_get", "preferences_update"]
