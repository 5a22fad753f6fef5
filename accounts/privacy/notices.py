"""Sentences the "Your data" page (accounts/views/settings.py) shows about how long a
person's things are kept, from apps above accounts: the retention app registers its own in
its ``AppConfig.ready()`` (retention/notices.py), as the apps register privacy hooks
(hooks.py), so accounts reads no rows of theirs.

Filled once per process at start-up, read after that.
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.models import User

KeptNotice = Callable[[User], str]

_notices: dict[str, KeptNotice] = {}


def kept_notice_register(name: str, notice: KeptNotice) -> None:
    """Add (or, for the same name, replace) a notice: a function of the person giving one
    translated sentence, or "" for nothing to say."""
    _notices[name] = notice


def kept_notices(*, user: User) -> list[str]:
    return [text for notice in _notices.values() if (text := notice(user))]
