"""Reading a person's preferences."""

from __future__ import annotations

from accounts.models import Preferences, User


def preferences_get(*, user: User) -> Preferences:
    """The person's preferences; an unsaved row of defaults when they never set any (a read
    writes nothing)."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)
