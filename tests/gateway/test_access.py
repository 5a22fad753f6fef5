"""Who may use which model: ModelAccess rules, read live."""

import time

import httpx
import pytest
from django.contrib.auth.models import AnonymousUser, Group

from gateway.access import amodel_allowed, model_allowed, model_allowed_groups, models_for_user
from gateway.models import ModelAccess, Worker
from gateway.telemetry.snapshot import snapshot_wait
from tests.gateway.pool_helpers import telemetry_fixture  # noqa: F401


@pytest.fixture
def research(owner):
    """The group "research" with the owner in it; "secret" is its model."""
    group = Group.objects.create(name="research")
    owner.groups.add(group)
    rule = ModelAccess.objects.create(model="secret", note="GPU budget of the research team")
    rule.groups.add(group)
    return group


@pytest.fixture
def member_elsewhere(member):
    member.groups.add(Group.objects.create(name="support"))
    return member


def test_a_model_without_rules_is_open_to_every_active_user(db, owner, member, outsider):
    for user in (owner, member, outsider):
        assert model_allowed(user=user, model="open")


def test_nobody_unknown_or_inactive_may_use_any_model(db, outsider):
    assert not model_allowed(user=AnonymousUser(), model="open")
    assert not model_allowed(user=None, model="open")
    outsider.is_active = False
    outsider.save()
    assert not model_allowed(user=outsider, model="open")


def test_a_restricted_model_is_for_its_groups_members_only(
    research, owner, member_elsewhere, outsider
):
    assert model_allowed(user=owner, model="secret")
    assert not model_allowed(user=member_elsewhere, model="secret")
    assert not model_allowed(user=outsider, model="secret")
    # Other models stay open to all.
    assert model_allowed(user=outsider, model="open")


def test_staff_get_no_model_by_being_staff(research, make_user):
    admin = make_user("admin@example.com", is_staff=True)
    assert admin.is_superuser
    assert not model_allowed(user=admin, model="secret")
    admin.groups.add(research)
    assert model_allowed(user=admin, model="secret")


def test_rules_for_one_model_add_up(research, owner, member_elsewhere):
    support = member_elsewhere.groups.get()
    ModelAccess.objects.create(model="secret", note="support escalations").groups.add(support)
    assert model_allowed(user=owner, model="secret")
    assert model_allowed(user=member_elsewhere, model="secret")


def test_a_rule_without_groups_closes_the_model(db, owner):
    ModelAccess.objects.create(model="retired")
    assert not model_allowed(user=owner, model="retired")


def test_a_change_applies_to_the_very_next_check(research, owner, outsider):
    assert not model_allowed(user=outsider, model="secret")
    outsider.groups.add(research)
    assert model_allowed(user=outsider, model="secret")
    owner.groups.remove(research)
    assert not model_allowed(user=owner, model="secret")
    ModelAccess.objects.filter(model="secret").delete()
    assert model_allowed(user=owner, model="secret")


def test_the_rule_for_a_callers_groups(research):
    assert model_allowed_groups(group_ids={research.id}, model="secret")
    assert not model_allowed_groups(group_ids=set(), model="secret")
    assert model_allowed_groups(group_ids=set(), model="open")


@pytest.mark.django_db(transaction=True)
async def test_the_async_check_reads_live_too(research, owner, outsider):
    assert await amodel_allowed(user=owner, model="secret")
    assert not await amodel_allowed(user=outsider, model="secret")
    await outsider.groups.aadd(research)
    assert await amodel_allowed(user=outsider, model="secret")
    assert await amodel_allowed(group_ids=frozenset({research.id}), model="secret")


@pytest.mark.django_db(transaction=True)
async def test_models_for_user_lists_served_and_allowed_models(
    telemetry, emulators, emulator_url, research, owner, outsider
):
    both = emulators("--model", "secret", "--model", "open")
    telemetry.AIPORTAL_WORKERS = f"{both}@test-a,{emulator_url}@test-a"
    await snapshot_wait(after=time.time())
    assert await models_for_user(owner) == ["aiportal-emulator", "open", "secret"]
    assert await models_for_user(outsider) == ["aiportal-emulator", "open"]
    assert await models_for_user(AnonymousUser()) == []


@pytest.mark.django_db(transaction=True)
async def test_models_for_user_leaves_out_unhealthy_and_draining_workers(
    telemetry, emulators, emulator_url, owner
):
    sick = emulators("--model", "sick-model")
    fine = emulators("--model", "fine-model")
    telemetry.AIPORTAL_WORKERS = f"{sick}@test-a,{fine}@test-a"
    # The session's worker serves aiportal-emulator, but it is draining.
    await Worker.objects.acreate(base_url=emulator_url, region="test-a", draining=True)
    await snapshot_wait(after=time.time())
    assert await models_for_user(owner) == ["fine-model", "sick-model"]
    async with httpx.AsyncClient() as client:
        await client.post(f"{sick}/emulator/faults", json={"unhealthy": True})
    await snapshot_wait(after=time.time())
    assert await models_for_user(owner) == ["fine-model"]
