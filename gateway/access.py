"""Who may use which model (``ModelAccess``), read live on every call.

A model with no ModelAccess row is open to every active user. A model with rows is open
only to members of their groups; being staff or superuser gives no model access by itself
(an admin who wants a restricted model joins its group, which the audit trail shows). The
rules are read from the database on each call, so a change applies to the next request;
``model_allowed_for`` and ``models_for_user`` cache the answers under the policies version
(gateway/callers.py), which every change bumps.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.db.models import Count, Q

from gateway.callers import Caller, policies_version, policy_cached
from gateway.models import ModelAccess
from gateway.telemetry.snapshot import workers_snapshot


def _user_ok(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def model_allowed(*, user: Any, model: str) -> bool:
    """May ``user`` use ``model``? One query."""
    if not _user_ok(user):
        return False
    counts = ModelAccess.objects.filter(model=model).aggregate(
        rules=Count("id", distinct=True),
        mine=Count("id", filter=Q(groups__user=user), distinct=True),
    )
    return counts["rules"] == 0 or counts["mine"] > 0


def model_allowed_groups(*, group_ids: frozenset[int] | set[int], model: str) -> bool:
    """The same rule for a caller known by its groups (an already authenticated, active
    user: the proxy's ``Caller``)."""
    counts = ModelAccess.objects.filter(model=model).aggregate(
        rules=Count("id", distinct=True),
        mine=Count("id", filter=Q(groups__in=list(group_ids)), distinct=True),
    )
    return counts["rules"] == 0 or counts["mine"] > 0


# Off Django's one shared sync thread, which every sync page view of the process also takes:
# a chat turn's access check must not wait behind page renders (common.websockets.py).
_model_allowed = database_sync_to_async(model_allowed, thread_sensitive=False)
_model_allowed_groups = database_sync_to_async(model_allowed_groups, thread_sensitive=False)


async def amodel_allowed(
    *, model: str, user: Any = None, group_ids: frozenset[int] | None = None
) -> bool:
    """``model_allowed`` for async code; with ``group_ids`` instead of ``user``, the rule for
    those groups."""
    if group_ids is not None and user is None:
        return await _model_allowed_groups(group_ids=group_ids, model=model)
    return await _model_allowed(user=user, model=model)


def models_allowed_filter(*, user: Any, models: list[str]) -> list[str]:
    """The models of ``models`` the user may use, in their order. Two queries."""
    if not _user_ok(user) or not models:
        return []
    restricted: dict[str, set[int]] = {}
    for model, group_id in ModelAccess.objects.filter(model__in=models).values_list(
        "model", "groups"
    ):
        restricted.setdefault(model, set())
        if group_id is not None:
            restricted[model].add(group_id)
    mine = set(user.groups.values_list("id", flat=True)) if restricted else set()
    return [m for m in models if m not in restricted or restricted[m] & mine]


_models_allowed_filter = database_sync_to_async(models_allowed_filter, thread_sensitive=False)


async def model_allowed_for(caller: Caller, model: str) -> bool:
    """May this caller use ``model`` (the rule above, cached like the policies)?"""
    if caller.user_id is None:
        return True  # internal callers (tests, management commands) have no user to check
    version = caller.policy_version or await policies_version()

    async def ask() -> bool:
        if caller.user is not None:
            return await amodel_allowed(user=caller.user, model=model)
        return await amodel_allowed(model=model, group_ids=caller.group_ids)

    return await policy_cached(("model", caller.user_id, model), version, ask)


async def models_for_user(user: Any) -> list[str]:
    """Models a healthy, enabled, not draining worker serves now and the user may use,
    sorted by name. The answer for a set of served models is cached under the policy
    version (gateway/callers.py), which every access rule and group change bumps: the
    chat asks this for every message that names no model, and a query each time was most
    of that message's start."""
    served: set[str] = set()
    for view in await workers_snapshot():
        if view.healthy and view.spec.enabled and not view.spec.draining:
            served.update(view.models)
    if not _user_ok(user) or not served:
        return []
    models = sorted(served)

    async def ask() -> list[str]:
        return await _models_allowed_filter(user=user, models=models)

    version = await policies_version()
    return list(await policy_cached(("models", user.pk, tuple(models)), version, ask))
