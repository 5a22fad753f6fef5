"""Retention's admin pages load and save for an admin, and nobody else reaches them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from retention.models import GroupRetention, RetentionDefaults
from tests.accounts.data_fixtures import signed_in
from tests.retention.conftest import set_defaults

pytestmark = pytest.mark.django_db

PAGES = [
    "admin:retention_retentiondefaults_changelist",
    "admin:retention_retentiondefaults_add",
    "admin:retention_groupretention_changelist",
    "admin:retention_groupretention_add",
    "admin:retention_retentionrun_changelist",
    "admin:accounts_legalhold_changelist",
    "admin:accounts_legalhold_add",
]


def test_every_page_loads_for_an_admin(staff_client):
    for name in PAGES:
        assert staff_client.get(reverse(name)).status_code == 200, name


def test_a_non_staff_user_reaches_none_of_them(owner, member):
    set_defaults(conversations=30)
    group = Group.objects.create(name="Sales")
    rule = GroupRetention.objects.create(group=group, kind="conversations", days=10)
    client = signed_in(owner)
    urls = [reverse(name) for name in PAGES] + [
        reverse("admin:retention_retentiondefaults_change", args=[1]),
        reverse("admin:retention_groupretention_change", args=[rule.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url, url
    response = client.post(
        reverse("admin:retention_retentiondefaults_change", args=[1]),
        {"conversations_days": "1"},
    )
    assert response.status_code == 302
    assert RetentionDefaults.load().conversations_days == 30
    add_hold = reverse("admin:accounts_legalhold_add")
    response = client.post(add_hold, {"user": member.pk, "reason": "x"})
    assert response.status_code == 302 and not member.legal_holds.exists()


def test_an_admin_sets_the_defaults_and_a_groups_period(staff_client):
    response = staff_client.post(
        reverse("admin:retention_retentiondefaults_add"),
        {"conversations_days": "90", "usage_days": "", "audit_days": "2555"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    defaults = RetentionDefaults.load()
    assert (defaults.conversations_days, defaults.usage_days, defaults.audit_days) == (
        90, None, 2555,
    )  # fmt: skip
    assert staff_client.get(reverse("admin:retention_retentiondefaults_add")).status_code == 403
    group = Group.objects.create(name="Sales")
    response = staff_client.post(
        reverse("admin:retention_groupretention_add"),
        {"group": group.pk, "kind": "conversations", "days": "0"},
    )
    assert response.status_code == 200 and not GroupRetention.objects.exists()  # at least 1
    staff_client.post(
        reverse("admin:retention_groupretention_add"),
        {"group": group.pk, "kind": "conversations", "days": "30"},
    )
    assert GroupRetention.objects.get().days == 30
