"""SCIM Users as ``accounts.User`` rows: reading them as SCIM resources and writing what an
identity provider sends (create, replace, patch, deactivate, delete).

- ``userName`` is the account's username (which is its email address for every account
  aiportal creates itself, so an identity provider looking people up by their address finds
  those who signed up before SCIM was connected and links them).
- The primary (else the first) of ``emails`` is the account's address; without ``emails``,
  a ``userName`` that is an address is used.
- ``active: false`` suspends the account through ``accounts.services.user_status_set``:
  open pages close and API keys stop at once, as an admin's suspension does. ``true``
  makes it active again (and approves a pending one: the provider vouches for it).
- DELETE suspends too, marks the account deprovisioned (SCIM answers 404 for it from then
  on) and takes it out of SCIM's groups; nothing the person made is erased. A POST with the
  same userName provisions that account again.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Case, QuerySet, Value, When
from django.utils import timezone
from scim2_models import (
    Email,
    EnterpriseUser,
    ForbiddenException,
    InvalidValueException,
    Meta,
    Name,
    PatchOp,
    UniquenessException,
    User,
)

from accounts.audit import audit_record
from accounts.models import User as Account
from accounts.services.users import user_address_confirm, user_status_set
from scim.filters import Column
from scim.models import ScimUser

# What a request is read as: Entra ID sends the enterprise extension whenever one of its
# attributes is mapped (department, employeeNumber, ...). It is accepted and not kept: the
# schemas published (scim/discovery.py) list what is.
UserResource = User[EnterpriseUser]

# The attributes a Users filter may name, and the column each one is.
USER_COLUMNS = {
    "id": Column("pk", kind=int),
    "username": Column("username"),
    "externalid": Column("scim__external_id", case_exact=True),
    "displayname": Column("scim__display_name"),
    "active": Column("scim_active", kind=bool),
    "name.givenname": Column("first_name"),
    "name.familyname": Column("last_name"),
    "emails": Column("email"),
    "emails.value": Column("email"),
    "meta.created": Column("date_joined", case_exact=True),
}
_NAME_MAX = Account._meta.get_field("first_name").max_length


def user_queryset() -> QuerySet[Account]:
    """Every account SCIM sees: all but the ones it deprovisioned."""
    return (
        Account.objects.select_related("scim")
        .exclude(scim__deprovisioned_at__isnull=False)
        .annotate(
            scim_active=Case(
                When(status=Account.Status.ACTIVE, then=Value(True)), default=Value(False)
            )
        )
        .order_by("pk")
    )


def _attributes(account: Account) -> ScimUser:
    try:
        return account.scim
    except ScimUser.DoesNotExist:
        return ScimUser(user=account)


def user_location(*, base: str, pk: int) -> str:
    return f"{base}/Users/{pk}"


def user_resource(*, account: Account, base: str) -> User:
    """The SCIM resource for ``account``; ``base`` is the absolute URL of /scim/v2."""
    extra = _attributes(account)
    emails = [Email.model_validate(e) for e in extra.emails] if extra.emails else []
    if not emails and account.email:
        emails = [Email(value=account.email, primary=True)]
    for email in emails:
        # The account's address may have changed outside SCIM: the primary shows it.
        if email.primary and (email.value or "").lower() != account.email.lower():
            email.value = account.email
    name = None
    if account.first_name or account.last_name:
        name = Name(given_name=account.first_name or None, family_name=account.last_name or None)
    return UserResource(
        id=str(account.pk),
        external_id=extra.external_id or None,
        user_name=account.username,
        name=name,
        display_name=extra.display_name or None,
        active=account.status == Account.Status.ACTIVE,
        emails=emails or None,
        meta=Meta(
            resource_type="User",
            created=account.date_joined,
            last_modified=extra.updated_at or account.date_joined,
            location=user_location(base=base, pk=account.pk),
        ),
    )


def _address(resource: User) -> str:
    emails = resource.emails or []
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    address = (chosen.value if chosen else None) or resource.user_name or ""
    address = Account.objects.normalize_email(address.strip()).lower()
    try:
        validate_email(address)
    except ValidationError:
        raise InvalidValueException(
            detail="A user needs an email address: in emails, or as the userName."
        ) from None
    return address


def _unique_check(*, resource: User, address: str, pk: int | None) -> None:
    others = Account.objects.exclude(pk=pk) if pk else Account.objects.all()
    if others.filter(username__iexact=resource.user_name).exists():
        raise UniquenessException(detail="Another user has this userName.")
    if others.filter(email__iexact=address).exists():
        raise UniquenessException(detail="Another user has this email address.")


def _apply(*, account: Account, resource: User) -> dict[str, Any]:
    """Copy ``resource``'s attributes onto ``account`` and its SCIM row (not saved).
    Returns what changed, for the audit event."""
    if not resource.user_name or not resource.user_name.strip():
        raise InvalidValueException(detail="userName is required.")
    address = _address(resource)
    _unique_check(resource=resource, address=address, pk=account.pk)
    name = resource.name or Name()
    extra = _attributes(account)
    wanted = {
        "username": resource.user_name.strip()[:150],
        "email": address,
        "first_name": (name.given_name or "")[:_NAME_MAX],
        "last_name": (name.family_name or "")[:_NAME_MAX],
    }
    changed = {k: v for k, v in wanted.items() if getattr(account, k) != v}
    if (
        account.pk
        and (account.is_staff or account.is_superuser)
        and ("username" in changed or "email" in changed)
    ):
        # An admin's address is how their password is reset: a SCIM token must not be a way
        # to take an admin account over. Their name and status still follow the provider.
        raise ForbiddenException(detail="An admin's userName and email change in the admin only.")
    for field, value in wanted.items():
        setattr(account, field, value)
    extra.external_id = (resource.external_id or "")[:255]
    extra.display_name = (resource.display_name or "")[:255]
    extra.emails = [
        e.model_dump(exclude_none=True, include={"value", "type", "primary"}, mode="json")
        for e in resource.emails or []
    ]
    return changed


def _active_set(*, account: Account, active: bool | None, ip: str | None) -> None:
    if active is None:
        return
    status = Account.Status.ACTIVE if active else Account.Status.SUSPENDED
    # The same service as the admin's action: the save's signal closes the person's open
    # pages and drops their cached API keys (accounts/access/live.py, gateway/signals.py).
    user_status_set(user=account, status=status, by=None, ip=ip)


def _audit(*, action: str, account: Account, detail: dict[str, Any], token, ip: str | None):
    audit_record(
        actor=None,
        action=action,
        target_type="accounts.user",
        target_id=account.pk,
        detail={**detail, "user_name": account.username, "token": token.prefix},
        ip=ip,
    )


@transaction.atomic
def scim_user_create(*, resource: User, token, ip: str | None = None) -> Account:
    """Provision a user. A deprovisioned account with this userName is provisioned again
    (its data was kept); any other account with it is a conflict."""
    if not resource.user_name:
        raise InvalidValueException(detail="userName is required.")
    account = (
        Account.objects.select_for_update()
        .filter(username__iexact=resource.user_name, scim__deprovisioned_at__isnull=False)
        .first()
    )
    if account is None:
        account = Account(status=Account.Status.ACTIVE)
        account.set_unusable_password()
    _apply(account=account, resource=resource)
    account.save()
    extra = _attributes(account)
    extra.deprovisioned_at = None
    extra.save()
    user_address_confirm(user=account)
    _active_set(account=account, active=resource.active is not False, ip=ip)
    _audit(
        action="scim.user.create",
        account=account,
        detail={"email": account.email, "external_id": extra.external_id},
        token=token,
        ip=ip,
    )
    return account


@transaction.atomic
def scim_user_replace(*, account: Account, resource: User, token, ip: str | None = None):
    """PUT: the resource becomes exactly ``resource`` (what it leaves out is cleared)."""
    account = Account.objects.select_for_update().get(pk=account.pk)
    changed = _apply(account=account, resource=resource)
    account.save()
    _attributes(account).save()
    if changed.get("email"):
        user_address_confirm(user=account)
    _active_set(account=account, active=resource.active, ip=ip)
    _audit(
        action="scim.user.update",
        account=account,
        detail={"changed": sorted(changed), "active": resource.active},
        token=token,
        ip=ip,
    )
    return account


@transaction.atomic
def scim_user_patch(*, account: Account, patch: PatchOp, base: str, token, ip: str | None = None):
    """PATCH: apply the operations (scim2-models does, path forms and all) to the current
    resource, then store the result as a PUT would."""
    account = user_queryset().select_for_update(of=("self",)).get(pk=account.pk)
    resource = user_resource(account=account, base=base)
    patch.patch(resource)
    return scim_user_replace(account=account, resource=resource, token=token, ip=ip)


@transaction.atomic
def scim_user_delete(*, account: Account, token, ip: str | None = None) -> None:
    """DELETE: suspend, mark deprovisioned, leave SCIM's groups. Nothing else is erased."""
    user_status_set(user=account, status=Account.Status.SUSPENDED, by=None, ip=ip)
    extra = _attributes(account)
    extra.deprovisioned_at = timezone.now()
    extra.save()
    # Through the relation's own remove: its signal updates grants and open pages at once.
    managed = Group.objects.filter(scim__isnull=False, user=account)
    account.groups.remove(*managed)
    _audit(action="scim.user.delete", account=account, detail={}, token=token, ip=ip)
