"""Live revocation: a change to who someone is reaches their open websockets within a second.

A socket is authenticated once, when it opens. Whatever changes after that (the account is
deactivated or suspended, a staff member is demoted, a session is signed out, the password
changes, a required second factor is removed) is announced here, through the channel layer,
to the group every socket of that user joins (``accounts.user.<id>``). The event carries no
verdict, only "look again": each consumer re-reads the user and its own session from the
database (``socket_access``) and closes itself if it may no longer act. The database stays
the source of truth, so a lost event costs no safety that the next connect does not restore,
and an event that arrives twice costs one query.

API keys are a separate credential and need no event: every /v1 request checks the key's
user (``may_act``) under an access version that each user save bumps
(gateway/key_cache.py). A deactivated or suspended user's keys stop on the next request; a
signed-out session or a new password leaves the keys alone (docs/accounts.md says why).

The receivers below compare with the values the instance was loaded with, so saving a user
for an unrelated reason (a sign-in's ``last_login``, a name) sends nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from importlib import import_module

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.db import transaction
from django.utils.crypto import constant_time_compare

from accounts.access.sockets import SocketRefusal, socket_refusal
from common.websockets import CLOSE_UNAUTHENTICATED, access_group

logger = logging.getLogger(__name__)

# The handler on a consumer is ``accounts_access_changed``.
EVENT_TYPE = "accounts.access_changed"
# The fields whose change may take someone's access away.
WATCHED_FIELDS = ("is_active", "status", "is_staff", "is_superuser", "password")
_LOADED = "_access_fields_loaded"


def _group_send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(layer.group_send)(group, event)
        return
    # Called from a thread that runs an event loop (an async caller's on_commit, a test
    # driving a browser): async_to_sync refuses that, so send from a thread of its own.
    failure: list[BaseException] = []

    def send() -> None:
        try:
            async_to_sync(layer.group_send)(group, event)
        except BaseException as exc:  # reported below, in the caller's thread
            failure.append(exc)

    sender = threading.Thread(target=send, name="access-changed-send")
    sender.start()
    sender.join(10)
    if failure:
        raise failure[0]


def _publish(user_id: int, session_key: str | None) -> None:
    try:
        _group_send(access_group(user_id), {"type": EVENT_TYPE, "session_key": session_key})
    except Exception:
        # Never fails the change itself: the sockets still re-check on their next connect.
        logger.warning("could not announce an access change of user %s", user_id, exc_info=True)


def user_access_changed(user_id: int, *, session_key: str | None = None) -> None:
    """Tell the user's open websockets to check their access again, once the current
    transaction commits (a socket that re-read before the commit would see the old rows).
    With ``session_key``, only the socket signed in with that session needs to look."""
    transaction.on_commit(lambda: _publish(user_id, session_key))


# --- What a socket may still do -------------------------------------------------------------


@dataclass(frozen=True)
class SocketAccess:
    """What a websocket opened with a session may do now. ``user`` is the fresh row (None if
    the socket may no longer act at all); ``refusal`` says why a pending or suspended account
    is refused (accounts/access/sockets.py), None for every other reason."""

    user: object | None
    refusal: SocketRefusal | None = None

    @property
    def may_act(self) -> bool:
        return self.user is not None

    @property
    def close_code(self) -> int:
        return self.refusal.code if self.refusal else CLOSE_UNAUTHENTICATED

    @property
    def close_reason(self) -> str:
        return self.refusal.reason if self.refusal else "signed out"


def _session_store(session_key: str):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def socket_access(*, user_id: int, session_key: str | None) -> SocketAccess:
    """Re-read a socket's user and session: it may act only while the user exists and may
    act (active, status active), the session still exists and is still this user's with the
    current password (Django's session hash) and signed in with the second factor its person
    has, and a second factor the policy requires is enrolled. Two queries, three under an MFA
    policy; called on connect and on each access event."""
    from accounts.signin.mfa import mfa_enrolment_required, session_second_factor_skipped

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.is_active:
        return SocketAccess(user=None)
    if not user.may_act:  # pending or suspended: told so, as on connect
        return SocketAccess(user=None, refusal=socket_refusal(user))
    if session_key is not None:
        # An ended session loads as empty (one query for the database engine).
        data = _session_store(session_key).load()
        if str(data.get(SESSION_KEY)) != str(user.pk):
            return SocketAccess(user=None)
        if not constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
            return SocketAccess(user=None)
        # A session signed in without the person's second factor (its first page would
        # have ended it: accounts/signin/mfa_middleware.py) opens no socket either.
        if session_second_factor_skipped(session=data, user=user):
            return SocketAccess(user=None)
    if mfa_enrolment_required(user):
        return SocketAccess(user=None)
    return SocketAccess(user=user)


def scope_session_key(scope) -> str | None:
    """The session key a websocket was opened with (None without a session cookie)."""
    session = scope.get("session")
    return getattr(session, "session_key", None) if session is not None else None


# --- Receivers ------------------------------------------------------------------------------


def _remember_loaded(instance, **_: object) -> None:
    # Deferred fields (``.only()``) are absent from __dict__: they are not compared.
    instance.__dict__[_LOADED] = {
        name: instance.__dict__[name] for name in WATCHED_FIELDS if name in instance.__dict__
    }


def _user_saved(instance, created: bool, update_fields=None, **_: object) -> None:
    loaded = instance.__dict__.get(_LOADED, {})
    _remember_loaded(instance)
    if created:
        return
    changed = [
        name for name, value in loaded.items() if instance.__dict__.get(name, value) != value
    ]
    if changed:
        user_access_changed(instance.pk)


def _user_deleted(instance, **_: object) -> None:
    user_access_changed(instance.pk)


def _user_m2m_changed(instance, action: str, reverse: bool, pk_set, **_: object) -> None:
    """A user's groups or permissions changed (from either side of the relation)."""
    if action == "pre_clear" and reverse:
        # The members are gone after the clear: remember them now.
        instance.__dict__["_access_members"] = list(instance.user_set.values_list("pk", flat=True))
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if not reverse:
        user_access_changed(instance.pk)
        return
    ids = pk_set if action != "post_clear" else instance.__dict__.pop("_access_members", [])
    for user_id in ids or ():
        user_access_changed(user_id)


def _group_permissions_changed(instance, action: str, reverse: bool, pk_set, **_: object):
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    from django.contrib.auth.models import Group

    groups = Group.objects.filter(pk__in=pk_set or ()) if reverse else [instance]
    for group in groups:
        for user_id in group.user_set.values_list("pk", flat=True):
            user_access_changed(user_id)


def _group_deleted(instance, **_: object) -> None:
    # Before the delete: its members' rows in the through table go with it, silently.
    for user_id in instance.user_set.values_list("pk", flat=True):
        user_access_changed(user_id)


def _session_deleted(instance, **_: object) -> None:
    """A session row deleted: sign-out, a session revoked in the sessions page, a new key
    after a password change, ``clearsessions``. Its socket closes."""
    try:
        data = instance.get_decoded()
    except Exception:
        return
    user_id = data.get(SESSION_KEY)
    if user_id is None:
        return  # an anonymous session
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return
    user_access_changed(user_id, session_key=instance.session_key)


def _signed_out(request, user, **_: object) -> None:
    # The session row's deletion says it too with database sessions; this covers the
    # other session engines.
    session = getattr(request, "session", None)
    if user is not None and session is not None and session.session_key:
        user_access_changed(user.pk, session_key=session.session_key)


def _second_factor_removed(instance, **_: object) -> None:
    user_access_changed(instance.user_id)


def receivers_connect() -> None:
    """Called once from AccountsConfig.ready."""
    from allauth.mfa.models import Authenticator
    from django.contrib.auth.models import Group
    from django.contrib.auth.signals import user_logged_out
    from django.contrib.sessions.models import Session
    from django.db.models.signals import m2m_changed, post_delete, post_init, post_save, pre_delete

    user_model = get_user_model()
    post_init.connect(_remember_loaded, sender=user_model, dispatch_uid="live-user-init")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="live-user-save")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="live-user-delete")
    for through in (user_model.groups.through, user_model.user_permissions.through):
        m2m_changed.connect(_user_m2m_changed, sender=through, dispatch_uid=f"live-{through}")
    m2m_changed.connect(
        _group_permissions_changed, sender=Group.permissions.through, dispatch_uid="live-gperm"
    )
    pre_delete.connect(_group_deleted, sender=Group, dispatch_uid="live-group-delete")
    post_delete.connect(_session_deleted, sender=Session, dispatch_uid="live-session-delete")
    user_logged_out.connect(_signed_out, dispatch_uid="live-signed-out")
    post_delete.connect(_second_factor_removed, sender=Authenticator, dispatch_uid="live-mfa-del")
