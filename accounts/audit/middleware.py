"""Gives the audit receivers the client's address, and catches the admin's bulk log entries.

The admin writes a ``LogEntry`` for every add, change and delete; a ``post_save`` receiver
(accounts/audit/receivers.py) turns each into an audit event. But the admin's "delete
selected" writes its entries with ``bulk_create``, which sends no signal: for admin POSTs this
middleware looks, after the response, for entries of that request not yet recorded and
records them.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.contrib.admin.models import LogEntry
from django.http import HttpRequest
from django.urls import reverse
from django.utils.decorators import sync_and_async_middleware

from accounts.audit.receivers import admin_entry_record, current_ip
from accounts.audit.record import request_ip
from accounts.models import AuditEvent


def _admin_post(request: HttpRequest) -> bool:
    return request.method == "POST" and request.path.startswith(reverse("admin:index"))


def _last_entry_id() -> int:
    return LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _unrecorded_entries_record(*, user_id: int, after: int) -> None:
    entries = list(LogEntry.objects.filter(pk__gt=after, user_id=user_id).order_by("pk"))
    if not entries:
        return
    recorded = set(
        AuditEvent.objects.filter(
            action__startswith="admin.", detail__log_entry__in=[e.pk for e in entries]
        ).values_list("detail__log_entry", flat=True)
    )
    for entry in entries:
        if entry.pk not in recorded:
            admin_entry_record(entry)


def _sweep(request: HttpRequest, after: int | None) -> None:
    user = getattr(request, "user", None)
    if after is not None and user is not None and user.is_authenticated:
        _unrecorded_entries_record(user_id=user.pk, after=after)


@sync_and_async_middleware
def AuditRequestMiddleware(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest):
            token = current_ip.set(request_ip(request))
            try:
                if not _admin_post(request):
                    # Every other request (the chat, /v1 streams) costs no thread hop here.
                    return await get_response(request)
                after = await sync_to_async(_last_entry_id)()
                response = await get_response(request)
                await sync_to_async(_sweep)(request, after)
                return response
            finally:
                current_ip.reset(token)

    else:

        def middleware(request: HttpRequest):
            token = current_ip.set(request_ip(request))
            try:
                after = _last_entry_id() if _admin_post(request) else None
                response = get_response(request)
                _sweep(request, after)
                return response
            finally:
                current_ip.reset(token)

    return middleware
