"""A person's signed-in sessions (allauth.usersessions): what the sessions page lists, when
each was last seen, and signing one out.

allauth's own activity tracking writes the session's row on every request; this records
the browser, address and last-seen time at most once per ``AIPORTAL_SESSION_SEEN_INTERVAL``
per session (one cache ``add`` per request decides), which is as precise as "last seen"
needs to be.
"""

from __future__ import annotations

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core.cache import cache


class UsersessionNotFound(Exception):
    """No such session of this user (another user's session is reported the same)."""


class SessionActivityMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # After the view: a sign-in or sign-out in it has settled which session this is.
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        key = getattr(session, "session_key", None)
        if user is not None and user.is_authenticated and key:
            usersession_seen(request=request, user=user, session=session)
        return response


def usersession_seen(*, request, user, session) -> None:
    """Record that the session was used now, unless that was done recently."""
    marker = f"accounts.usersession.seen:{session.session_key}"
    if cache.add(marker, 1, timeout=settings.AIPORTAL_SESSION_SEEN_INTERVAL):
        UserSession.objects.create_from_request(request, user=user, session=session)


def usersession_list(*, user) -> list[UserSession]:
    """The user's live sessions, oldest first (rows of sessions that ended are dropped)."""
    return sorted(UserSession.objects.purge_and_list(user), key=lambda s: s.created_at)


def usersession_end(*, user, id: int) -> UserSession:
    """Sign one of the user's sessions out: its session row goes (so its websockets close,
    accounts/access/live.py) and so does its entry in the list."""
    session = UserSession.objects.filter(user_id=user.pk, pk=id).first()
    if session is None:
        raise UsersessionNotFound()
    session.end()
    return session
