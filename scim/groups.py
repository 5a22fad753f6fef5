"""SCIM Groups as Django groups, the same groups dataset and assistant grants name and SSO
sync fills.

The rule between SCIM and SSO: each manages only the groups it marked. SCIM creates a group
with a ``ScimGroup`` mark and sees, changes and deletes only marked groups; SSO sync
(accounts/sso/groups.py) changes only groups with its ``SsoGroup`` mark. A group of the same
name that is not SCIM's (made by an admin, or SSO's) is a conflict, never taken over. A user
can be in groups of both kinds: neither protocol removes them from the other's.

Membership is changed through ``group.user_set``, whose m2m signal updates dataset and
assistant grants and open pages at once (datasets/services/grants.py, assistants/events.py,
accounts/access/live.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from scim2_models import Group as ScimGroupResource
from scim2_models import (
    GroupMember,
    InvalidValueException,
    Meta,
    PatchOp,
    UniquenessException,
)

from accounts.audit import audit_record
from scim.filters import Column
from scim.models import ScimGroup
from scim.users import user_location, user_queryset

GROUP_COLUMNS = {
    "id": Column("pk", kind=int),
    "displayname": Column("name"),
    "externalid": Column("scim__external_id", case_exact=True),
    "members": Column("user__pk", kind=int),
    "members.value": Column("user__pk", kind=int),
}
_NAME_MAX = Group._meta.get_field("name").max_length


def group_queryset() -> QuerySet[Group]:
    """The groups SCIM manages (marked by a ScimGroup), and no other."""
    return Group.objects.filter(scim__isnull=False).select_related("scim").order_by("pk")


def group_resource(*, group: Group, base: str, members: bool = True) -> ScimGroupResource:
    listed = None
    if members:
        ids = user_queryset().filter(groups=group).values_list("pk", flat=True)
        listed = [
            GroupMember(value=str(pk), ref=user_location(base=base, pk=pk), type="User")  # type: ignore[arg-type]
            for pk in ids
        ]
    return ScimGroupResource(
        id=str(group.pk),
        external_id=group.scim.external_id or None,
        display_name=group.name,
        members=listed or None,
        meta=Meta(
            resource_type="Group",
            created=group.scim.created_at,
            last_modified=group.scim.updated_at,
            location=f"{base}/Groups/{group.pk}",
        ),
    )


def _member_ids(resource: ScimGroupResource) -> set[int]:
    wanted: set[int] = set()
    for member in resource.members or []:
        value = member.value or (
            str(member.ref).rstrip("/").rsplit("/", 1)[-1] if member.ref else ""
        )
        if not value.isdigit():
            raise InvalidValueException(detail=f"No user {value!r}.")
        wanted.add(int(value))
    found = set(user_queryset().filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - found:
        missing = ", ".join(str(pk) for pk in sorted(wanted - found))
        raise InvalidValueException(detail=f"No user with id {missing}.")
    return found


def _name(resource: ScimGroupResource, *, pk: int | None) -> str:
    name = (resource.display_name or "").strip()
    if not name or len(name) > _NAME_MAX:
        raise InvalidValueException(
            detail=f"displayName is required and at most {_NAME_MAX} characters."
        )
    if Group.objects.filter(name=name).exclude(pk=pk).exists():
        raise UniquenessException(detail="A group of this name exists.")
    return name


def _members_set(*, group: Group, wanted: set[int]) -> dict[str, list[int]]:
    current = set(group.user_set.values_list("pk", flat=True))
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if added:
        group.user_set.add(*added)
    if removed:
        group.user_set.remove(*removed)
    return {"added": added, "removed": removed}


def _audit(*, action: str, group: Group, detail: dict[str, Any], token, ip: str | None):
    audit_record(
        actor=None,
        action=action,
        target_type="auth.group",
        target_id=group.pk,
        detail={**detail, "name": group.name, "token": token.prefix},
        ip=ip,
    )


@transaction.atomic
def scim_group_create(*, resource: ScimGroupResource, token, ip: str | None = None) -> Group:
    name = _name(resource, pk=None)
    wanted = _member_ids(resource)
    group = Group.objects.create(name=name)
    ScimGroup.objects.create(group=group, external_id=(resource.external_id or "")[:255])
    members = _members_set(group=group, wanted=wanted)
    _audit(action="scim.group.create", group=group, detail=members, token=token, ip=ip)
    return group


@transaction.atomic
def scim_group_replace(
    *, group: Group, resource: ScimGroupResource, token, ip: str | None = None
) -> Group:
    group = group_queryset().select_for_update(of=("self",)).get(pk=group.pk)
    previous = group.name
    group.name = _name(resource, pk=group.pk)
    wanted = _member_ids(resource)
    group.save()
    group.scim.external_id = (resource.external_id or "")[:255]
    group.scim.save()
    members = _members_set(group=group, wanted=wanted)
    detail = {**members, **({"renamed_from": previous} if previous != group.name else {})}
    _audit(action="scim.group.update", group=group, detail=detail, token=token, ip=ip)
    return group


@transaction.atomic
def scim_group_patch(*, group: Group, patch: PatchOp, base: str, token, ip: str | None = None):
    """PATCH: the operations (members add/remove by value or filter, displayName replace,
    Entra's and Okta's forms) applied by scim2-models to the current resource, then stored."""
    group = group_queryset().select_for_update(of=("self",)).get(pk=group.pk)
    resource = group_resource(group=group, base=base)
    patch.patch(resource)
    return scim_group_replace(group=group, resource=resource, token=token, ip=ip)


@transaction.atomic
def scim_group_delete(*, group: Group, token, ip: str | None = None) -> None:
    members = sorted(group.user_set.values_list("pk", flat=True))
    # clear() before delete(): a delete cascades the memberships without the m2m signal, so
    # grants and open pages would not hear of it.
    group.user_set.clear()
    _audit(action="scim.group.delete", group=group, detail={"removed": members}, token=token, ip=ip)
    group.delete()
