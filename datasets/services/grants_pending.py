"""Grants by what a manager types (an email address or a group name), answered the same way
whether or not that person or group exists here.

The grant form used to say "No person with the email …" for an unknown address and "… now
has access" for a known one: any signed-in person could create a dataset and use its form to
learn who has an account. Now an address with no account, or a name no group has, makes a
*pending* grant (``Grant.pending_email`` / ``pending_group``) that gives nothing until it is
claimed: by the person when an address of theirs is verified or when they sign in with one
(allauth's ``email_confirmed`` and ``user_logged_in``), by the group when an admin creates
it. The page lists a pending grant exactly like a live one.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed, user_logged_in
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.signals import post_save
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from datasets.models import Dataset, Grant, Level
from datasets.selectors import dataset_level_require
from datasets.services.grants import grant_set

GROUP_NAME_MAX = 150  # Group.name's max_length


def grant_set_for(
    *, dataset: Dataset, user: User, who: str, level: Level | int, ip: str | None = None
) -> Grant:
    """Give ``who`` (an email address, or a group name) ``level`` on the dataset: a live grant
    when they exist, a pending one when not. Needs the manage level. Raises ValueError with a
    message for the person, the same for a known and an unknown ``who``."""
    dataset_level_require(user=user, dataset=dataset, level=Level.MANAGE)
    who = who.strip()
    try:
        level = Level(int(level))
    except ValueError:
        raise ValueError(
            _("%(level)r is not a level (view, query, edit or manage).") % {"level": level}
        ) from None
    if "@" in who:
        try:
            validate_email(who)
        except ValidationError:
            raise ValueError(_("“%(who)s” is not an email address.") % {"who": who}) from None
        person = User.objects.filter(email__iexact=who).first()
        if person is not None:
            return grant_set(dataset=dataset, user=user, level=level, for_user=person, ip=ip)
        return _pending_set(dataset=dataset, user=user, level=level, email=who.lower(), ip=ip)
    if not who or len(who) > GROUP_NAME_MAX:
        raise ValueError(_("Enter an email address or a group name."))
    group = Group.objects.filter(name=who).first()
    if group is not None:
        return grant_set(dataset=dataset, user=user, level=level, for_group=group, ip=ip)
    return _pending_set(dataset=dataset, user=user, level=level, group=who, ip=ip)


@transaction.atomic
def _pending_set(
    *,
    dataset: Dataset,
    user: User,
    level: Level,
    email: str = "",
    group: str = "",
    ip: str | None,
) -> Grant:
    who = {"pending_email": email} if email else {"pending_group": group}
    grant, _created = Grant.objects.update_or_create(
        dataset=dataset, **who, defaults={"level": level, "created_by": user}
    )
    audit_record(
        actor=user,
        action="dataset.grant.pending",
        target_type="dataset",
        target_id=dataset.pk,
        detail={
            "grant": grant.pk,
            "email": email or None,
            "group": group or None,
            # The level's code (view, query…), not its label: audit details stay in
            # one language whatever the admin's.
            "level": level.name.lower(),
        },
        ip=ip,
    )
    return grant


@transaction.atomic
def _claim(pending, **who) -> int:
    """Turn pending grants into grants for ``who`` (a user or a group). Where one exists
    already for the same dataset, the higher level stays."""
    claimed = 0
    for grant in pending.select_for_update():
        existing = Grant.objects.filter(dataset_id=grant.dataset_id, **who).first()
        if existing is None:
            Grant.objects.create(
                dataset_id=grant.dataset_id,
                level=grant.level,
                expires_at=grant.expires_at,
                created_by_id=grant.created_by_id,
                **who,
            )
        elif existing.level < grant.level:
            existing.level = grant.level
            existing.save(update_fields=["level"])
        grant.delete()
        claimed += 1
    return claimed


def grants_claim_for_user(*, user: User) -> int:
    """The pending grants of the person's verified addresses become theirs."""
    emails = [
        e.lower()
        for e in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    ]
    if not emails:
        return 0
    return _claim(Grant.objects.filter(pending_email__in=emails), user=user)


def grants_claim_for_group(*, group: Group) -> int:
    return _claim(Grant.objects.filter(pending_group=group.name), group=group)


def _on_email_confirmed(email_address, **_: object) -> None:
    grants_claim_for_user(user=email_address.user)


def _on_signed_in(user, **_: object) -> None:
    grants_claim_for_user(user=user)


def _on_group_saved(instance: Group, created: bool, **_: object) -> None:
    grants_claim_for_group(group=instance)


email_confirmed.connect(_on_email_confirmed, dispatch_uid="datasets-grants-claim-email")
user_logged_in.connect(_on_signed_in, dispatch_uid="datasets-grants-claim-sign-in")
post_save.connect(_on_group_saved, sender=Group, dispatch_uid="datasets-grants-claim-group")
