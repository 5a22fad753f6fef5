"""The two resource types ``/scim/v2/`` serves, each as the functions its views call: one
table, so Users and Groups share the views (scim/views.py) without an ``if`` per kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from scim2_models import Group, Resource

from scim import groups, users
from scim.filters import Column


@dataclass(frozen=True)
class Kind:
    name: str
    model: type[Resource[Any]]
    columns: dict[str, Column]
    queryset: Callable[[], QuerySet]
    resource: Callable[..., Resource[Any]]
    create: Callable[..., Any]
    replace: Callable[..., Any]
    patch: Callable[..., Any]
    delete: Callable[..., None]


USERS = Kind(
    name="User",
    model=users.UserResource,
    columns=users.USER_COLUMNS,
    queryset=users.user_queryset,
    resource=lambda row, base: users.user_resource(account=row, base=base),
    create=users.scim_user_create,
    replace=lambda row, **kw: users.scim_user_replace(account=row, **kw),
    patch=lambda row, **kw: users.scim_user_patch(account=row, **kw),
    delete=lambda row, **kw: users.scim_user_delete(account=row, **kw),
)
GROUPS = Kind(
    name="Group",
    model=Group,
    columns=groups.GROUP_COLUMNS,
    queryset=groups.group_queryset,
    resource=lambda row, base: groups.group_resource(group=row, base=base),
    create=groups.scim_group_create,
    replace=lambda row, **kw: groups.scim_group_replace(group=row, **kw),
    patch=lambda row, **kw: groups.scim_group_patch(group=row, **kw),
    delete=lambda row, **kw: groups.scim_group_delete(group=row, **kw),
)
