"""The sentence "Your data" shows about how long the person's conversations are kept
(registered with accounts in RetentionConfig.ready). A legal hold changes nothing here: it is
confidential (docs/operations.md, "Legal hold")."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from retention.models import CONVERSATIONS
from retention.selectors import retention_days_for


def conversations_kept_notice(user: User) -> str:
    days = retention_days_for(user=user, kind=CONVERSATIONS)
    if days is None:
        return _("Your conversations are kept until you delete them.")
    return ngettext(
        "Your conversations are kept for %(count)s day after their last message, then deleted "
        "with their attachments and share links.",
        "Your conversations are kept for %(count)s days after their last message, then deleted "
        "with their attachments and share links.",
        days,
    ) % {"count": days}
