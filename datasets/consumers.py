"""The admin's live refill progress: ``ws/admin/jobs/<id>/``, for staff who may view refill
jobs in the admin.

It joins the job's group (``datasets.job.<id>``, where the refill engine publishes) and relays
each event as JSON. The first frame is the job as stored, read after joining the group, so an
event published between the page's render and the socket's opening is not missed. The origin
is checked by ``AllowedHostsOriginValidator`` in aiportal/asgi.py, before this runs.

It also follows the user's access (accounts/access/live.py): signed out, deactivated or suspended,
it closes with 4401; demoted (no longer staff, or without the permission), with 4403.
"""

from __future__ import annotations

import json

from channels.db import database_sync_to_async

from accounts.access import live
from accounts.access.sockets import socket_refusal
from common.websockets import (
    CLOSE_FORBIDDEN,
    CLOSE_UNAUTHENTICATED,
    WebsocketConsumer,
    access_group,
)
from datasets.models import RefillJob
from datasets.protocol import job_frame, job_group

# Accepted, then closed with this, so the page can tell "no such job" apart from a network
# failure (a refused handshake only shows as 1006).
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _may_view(user) -> bool:
    # The same permission the admin's job pages need: staff are not all alike.
    return user.has_perm("datasets.view_refilljob")


@database_sync_to_async
def _access_close_code(user_id: int, session_key: str | None) -> int | None:
    """The code to close with now, or None while the user may still follow the job."""
    access = live.socket_access(user_id=user_id, session_key=session_key)
    if not access.may_act:
        return access.close_code
    if not (access.user.is_staff and access.user.has_perm("datasets.view_refilljob")):
        return CLOSE_FORBIDDEN
    return None


@database_sync_to_async
def _job_frame(job_id: int) -> dict | None:
    job = RefillJob.objects.filter(pk=job_id).first()
    # The engine's event, plus what only the row has.
    return None if job is None else job_frame(job=job, with_message=True)


class AdminJobConsumer(WebsocketConsumer):
    group: str | None = None
    access_group: str | None = None
    closed = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.session_key = live.scope_session_key(self.scope)
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if refusal := socket_refusal(user):  # pending or suspended (docs/accounts.md)
            await self.close(code=refusal.code, reason=refusal.reason)
            return
        if not (user.is_active and user.is_staff and await _may_view(user)):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        # Joined before access is read again, so that a change in between is not missed.
        self.access_group = access_group(user.pk)
        await self.channel_layer.group_add(self.access_group, self.channel_name)
        code = await _access_close_code(user.pk, self.session_key)
        if code is not None:
            await self.lose_access(code)
            return
        job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        self.group = job_group(job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        frame = await _job_frame(job_id)
        if frame is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send(text_data=json.dumps(frame))

    async def disconnect(self, code: int) -> None:
        await self.leave_groups()

    async def leave_groups(self) -> None:
        for group in (self.group, self.access_group):
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)
        self.group = self.access_group = None

    async def lose_access(self, code: int) -> None:
        self.closed = True
        await self.leave_groups()
        await self.close(code=code)

    async def accounts_access_changed(self, event: dict) -> None:
        """The user's account, roles or a session changed: look again (accounts/access/live.py)."""
        changed = event.get("session_key")
        if self.closed or (changed is not None and changed != self.session_key):
            return
        code = await _access_close_code(self.user_id, self.session_key)
        if code is not None:
            await self.lose_access(code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        """The page only listens; anything it sends is ignored."""

    async def datasets_job(self, event: dict) -> None:
        if self.closed:
            return
        # The event is the frame (datasets/protocol.py builds both).
        await self.send(text_data=json.dumps(event))
