"""Keep a user's SSO-managed groups equal to what the provider's groups claim says.

Runs at every SSO sign-in. Only groups marked by an ``SsoGroup`` of the same provider are
added or removed, so the groups an admin gives by hand stay, and no claim can reach
``is_staff`` or ``is_superuser`` (groups carry neither). Membership changes go through
``user.groups``, whose m2m signal bumps the gateway's policy version and the dataset grants'
caches (gateway/signals.py, datasets/services/grants.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction

from accounts.sso.models import SsoGroup

logger = logging.getLogger(__name__)

# A claim listing more values than this is cut there: one sign-in must not create thousands
# of groups because a directory put everyone in everything.
MAX_CLAIM_VALUES = 200
_GROUP_NAME_MAX = Group._meta.get_field("name").max_length


def groups_claim_values(claims: Iterable[Mapping[str, Any]], claim: str) -> set[str] | None:
    """The values of ``claim`` from the first of ``claims`` (userinfo, then ID token) that
    has it: a list of strings, or one string. None when no source has the claim."""
    for source in claims:
        if claim not in source:
            continue
        raw = source[claim]
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        cleaned = [v.strip() for v in values if isinstance(v, str) and v.strip()]
        return set(cleaned[:MAX_CLAIM_VALUES])
    return None


def _managed_group(*, provider_id: str, value: str, create: bool, prefix: str) -> int | None:
    """The id of the group managing ``value``, created when allowed; None when there is none
    or its name is taken by a group that this provider does not manage."""
    mapped = SsoGroup.objects.filter(provider_id=provider_id, claim_value=value).first()
    if mapped is not None:
        return mapped.group_id
    name = f"{prefix}{value}"
    if not create or len(name) > _GROUP_NAME_MAX or len(value) > 255:
        return None
    try:
        # One transaction for the group and its mark: a concurrent sign-in that finds the
        # group by name (waiting on this insert) then finds the mark with it.
        with transaction.atomic():
            group, created = Group.objects.get_or_create(name=name)
            if created:
                SsoGroup.objects.create(group=group, provider_id=provider_id, claim_value=value)
                return group.id
    except IntegrityError:
        # Another sign-in created the mark for this value first: use its group.
        mapped = SsoGroup.objects.filter(provider_id=provider_id, claim_value=value).first()
        return mapped.group_id if mapped else None
    mark = SsoGroup.objects.filter(group=group).first()
    if mark is not None and mark.provider_id == provider_id and mark.claim_value == value:
        return group.id
    # A group an admin made (or another provider manages) has this name: never take it over.
    logger.warning(
        "SSO group %r of provider %s not synced: a group of that name is not managed by it",
        name,
        provider_id,
    )
    return None


def sso_groups_sync(
    *, user, provider_id: str, values: set[str], create: bool = True, prefix: str = ""
) -> tuple[set[int], set[int]]:
    """Make ``user``'s groups managed by ``provider_id`` exactly those for ``values``.
    Returns the ids of the groups added and removed (both empty when nothing changed, and
    then nothing is written, so a sign-in without a change bumps no cache)."""
    wanted = set()
    for value in sorted(values):
        group_id = _managed_group(
            provider_id=provider_id, value=value, create=create, prefix=prefix
        )
        if group_id is not None:
            wanted.add(group_id)
    managed = set(
        SsoGroup.objects.filter(provider_id=provider_id).values_list("group_id", flat=True)
    )
    current = set(user.groups.filter(id__in=managed).values_list("id", flat=True))
    added, removed = wanted - current, current - wanted
    with transaction.atomic():
        if added:
            user.groups.add(*added)
        if removed:
            user.groups.remove(*removed)
    return added, removed
