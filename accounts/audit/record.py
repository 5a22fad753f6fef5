"""Writing the audit log: one event per change, in the change's own transaction, and the
client's address it is recorded from. Every app that records an event calls these (the
receivers that record sign-ins and admin changes are in receivers.py)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.models import AuditEvent, User


def audit_record(
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: object = "",
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit event. Called inside the transaction of the change it records, so
    that the event and the change are kept (or rolled back) together."""
    event: AuditEvent = AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action[:100],
        target_type=target_type[:100],
        target_id=str(target_id)[:100],
        detail=detail or {},
        ip=ip or None,
    )
    return event


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def request_ip(request: HttpRequest | None) -> str | None:
    """The client's address. Behind the edge proxy (AIPORTAL_BEHIND_PROXY=true) it is the
    last address in X-Forwarded-For, the one the proxy itself appended: the earlier ones
    are whatever the client chose to send. Without a proxy the header is ignored, since
    anyone could set it."""
    if request is None:
        return None
    if getattr(settings, "AIPORTAL_BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = _valid_ip(forwarded.split(",")[-1])
            if address:
                return address
    return _valid_ip(request.META.get("REMOTE_ADDR", "") or "")
