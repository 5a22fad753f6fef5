"""Receivers that tell every process the access rules changed, connected in
``GatewayConfig.ready()`` (gateway/apps.py), not by the models.

gateway/callers.py caches what policies and model access rules resolve to (and
gateway/key_cache.py the API keys) under a version kept in Redis. These receivers bump it
once the change is committed: a reader that refreshed before the commit would otherwise cache
the old rows under the new version.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from gateway.callers import policies_version_bump
from gateway.models import ApiKey, ModelAccess, Policy


def policy_changed(**_: object) -> None:
    transaction.on_commit(policies_version_bump)


def user_changed(update_fields: Any = None, **kwargs: object) -> None:
    # A sign-in saves last_login alone: nothing the gateway caches depends on it, and
    # bumping on every sign-in would empty every process's caches all day long.
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    policy_changed(**kwargs)


def receivers_connect() -> None:
    """Connect the receivers (idempotent: each has a ``dispatch_uid``)."""
    # Keys are cached by gateway/key_cache.py under the same version.
    for model in (Policy, ModelAccess, Group, ApiKey):
        post_save.connect(policy_changed, sender=model, dispatch_uid=f"gw-policy-save-{model}")
        post_delete.connect(policy_changed, sender=model, dispatch_uid=f"gw-policy-del-{model}")
    # A user deactivated, deleted or changed: their cached keys and policies go.
    user_model = get_user_model()
    post_save.connect(user_changed, sender=user_model, dispatch_uid="gw-policy-user-save")
    post_delete.connect(policy_changed, sender=user_model, dispatch_uid="gw-policy-user-del")
    for through in (user_model.groups.through, ModelAccess.groups.through):
        m2m_changed.connect(policy_changed, sender=through, dispatch_uid=f"gw-policy-m2m-{through}")
