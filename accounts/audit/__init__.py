"""The audit log (docs/accounts.md, "Audit log"): ``record`` writes an event and finds the
client's address, ``receivers`` turn sign-ins, MFA changes and admin changes into events,
``middleware`` gives them the address and catches the admin's bulk entries, ``admin`` shows
the log read-only with a CSV download. Other apps call ``audit_record`` and ``request_ip``."""

from accounts.audit.record import audit_record, request_ip

__all__ = ["audit_record", "request_ip"]
