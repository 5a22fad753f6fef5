"""Admission control: policies and how they combine, concurrent-stream limits, daily token
budgets, residency, the fair queue — with real Redis, real emulators and the database."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group

from gateway.admission import budget_used, stream_slot
from gateway.admission_queue import FairQueue
from gateway.callers import Caller, Limits, caller_for_user
from gateway.errors import ModelForbidden, OverBudget, RateLimited, RegionUnavailable
from gateway.models import Policy
from gateway.proxy import Delta, chat_stream
from gateway.regions import regions_parse
from tests.conftest import ROOT, Process
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    chat_collect,
    emulator_state,
    emulators_fixture,
    faults_set,
    gateway_isolated_fixture,
    snapshot_ready,
)

pytestmark = pytest.mark.django_db(transaction=True)

policy_create = sync_to_async(Policy.objects.create)


@sync_to_async
def _group(name: str, *users) -> Group:
    group = Group.objects.create(name=name)
    group.user_set.add(*users)
    return group


# --- Resolving policies ---------------------------------------------------------------------


async def test_without_policies_the_settings_apply(owner, settings):
    settings.AIPORTAL_USER_MAX_STREAMS = 3
    settings.AIPORTAL_DAILY_TOKEN_BUDGET = 1000
    caller = await caller_for_user(owner)
    assert caller.limits == Limits(max_streams=3, daily_tokens=1000)
    assert caller.allowed_regions is None and caller.home_region is None


async def test_the_most_generous_group_wins_and_the_users_own_policy_beats_them(owner):
    small, large = await _group("small", owner), await _group("large", owner)
    await policy_create(group=small, max_concurrent_streams=1, daily_token_budget=100)
    await policy_create(group=large, max_concurrent_streams=5, daily_token_budget=0)
    caller = await caller_for_user(owner)
    assert caller.limits.max_streams == 5
    assert caller.limits.daily_tokens == 0  # 0 is unlimited: the most generous of all
    await policy_create(user=owner, max_concurrent_streams=2)
    caller = await caller_for_user(owner)
    assert caller.limits.max_streams == 2
    assert caller.limits.daily_tokens == 0  # the user's policy leaves this one to the groups


async def test_regions_are_the_union_of_the_groups_narrowed_by_the_user(owner, member):
    eu, nordic, staff = [await _group(n, owner, member) for n in ("eu", "nordic", "staff")]
    await policy_create(group=eu, allowed_regions="eu-west", home_region="eu-west")
    await policy_create(group=nordic, allowed_regions='["eu-north"]')
    await policy_create(group=staff, max_concurrent_streams=9)  # no say on regions
    assert (await caller_for_user(member)).allowed_regions == {"eu-west", "eu-north"}
    assert (await caller_for_user(member)).home_region == "eu-west"
    await policy_create(user=owner, allowed_regions="eu-north, us-east")
    caller = await caller_for_user(owner)
    assert caller.allowed_regions == {"eu-north"}  # never wider than the groups allow
    assert caller.home_region is None  # eu-west is no longer allowed for this user


async def test_a_user_policy_alone_restricts_regions(owner, outsider):
    await policy_create(user=owner, allowed_regions="us-east", home_region="us-east")
    caller = await caller_for_user(owner)
    assert (caller.allowed_regions, caller.home_region) == ({"us-east"}, "us-east")
    assert (await caller_for_user(outsider)).allowed_regions is None


def test_regions_are_written_as_a_comma_list_or_json():
    assert regions_parse(" eu-west , eu-north ") == {"eu-west", "eu-north"}
    assert regions_parse('["eu-west"]') == {"eu-west"}
    assert regions_parse("") is None
    for bad in ("eu west", '["eu", 3]', "[oops", ","):
        with pytest.raises(ValueError):
            regions_parse(bad)


def test_a_policy_is_for_exactly_one_user_or_group(owner):
    from django.db import IntegrityError, transaction

    group = Group.objects.create(name="g")
    for fields in ({}, {"user": owner, "group": group}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Policy.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.create(user=owner, group_daily_token_budget=5)


def test_the_admin_form_refuses_a_policy_for_both_a_user_and_a_group(owner):
    from django.contrib import admin
    from django.core.exceptions import ValidationError

    import gateway.admin.policies  # noqa: F401 - registers the admin

    assert Policy in admin.site._registry
    policy = Policy(user=owner, group=Group.objects.create(name="g"))
    with pytest.raises(ValidationError, match="exactly one"):
        policy.full_clean()
    with pytest.raises(ValidationError, match="not a region"):
        Policy(user=owner, allowed_regions="eu west").full_clean()


# --- Concurrent streams ---------------------------------------------------------------------


async def _open_stream(**kwargs):
    """A chat stream that has produced its first delta, still running."""
    stream = chat_stream(messages=QUESTION, max_tokens=400, **kwargs)
    item = await anext(stream)
    assert isinstance(item, Delta)
    return stream


async def test_the_stream_over_the_limit_is_refused_with_a_retry_after(emulators, pool, owner):
    url = emulators("--tokens-per-second", "20")
    pool(f"{url}@test-a")
    await policy_create(user=owner, max_concurrent_streams=2)
    first, second = await _open_stream(user=owner), await _open_stream(user=owner)
    with pytest.raises(RateLimited) as caught:
        await chat_collect(messages=QUESTION, user=owner)
    assert caught.value.status == 429
    assert caught.value.retry_after >= 1
    await first.aclose()
    third = await _open_stream(user=owner)  # a slot freed: admitted
    await second.aclose()
    await third.aclose()


async def test_a_policy_change_applies_to_the_next_request(emulators, pool, owner):
    url = emulators("--tokens-per-second", "20")
    pool(f"{url}@test-a")
    policy = await policy_create(user=owner, max_concurrent_streams=1)
    first = await _open_stream(user=owner)
    with pytest.raises(RateLimited):
        await _open_stream(user=owner)
    policy.max_concurrent_streams = 2
    await sync_to_async(policy.save)()
    second = await _open_stream(user=owner)
    await first.aclose()
    await second.aclose()


async def test_joining_or_leaving_a_group_applies_to_the_next_request(owner):
    eu = await _group("eu")
    await policy_create(group=eu, allowed_regions="eu-west")
    assert (await caller_for_user(owner)).allowed_regions is None
    await sync_to_async(eu.user_set.add)(owner)
    assert (await caller_for_user(owner)).allowed_regions == {"eu-west"}
    await sync_to_async(eu.user_set.remove)(owner)
    assert (await caller_for_user(owner)).allowed_regions is None


async def test_a_model_closed_to_the_user_is_refused_from_the_next_request(emulators, pool, owner):
    from gateway.models import ModelAccess

    pool(f"{emulators()}@test-a")
    await chat_collect(messages=QUESTION, max_tokens=3, user=owner)
    rule = await sync_to_async(ModelAccess.objects.create)(model=MODEL)  # open to no group
    with pytest.raises(ModelForbidden) as caught:
        await chat_collect(messages=QUESTION, max_tokens=3, user=owner)
    assert caught.value.status == 404
    staff = await _group("staff", owner)
    await sync_to_async(rule.groups.add)(staff)
    await chat_collect(messages=QUESTION, max_tokens=3, user=owner)


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_slots_are_counted_across_requests_in_redis_or_in_memory(backend, settings):
    if backend == "memory":
        settings.REDIS_URL = ""
    caller, limits = Caller(user_id=424242), Limits(max_streams=2)
    async with stream_slot(caller, limits), stream_slot(caller, limits):
        with pytest.raises(RateLimited):
            async with stream_slot(caller, limits):
                pass
    async with stream_slot(caller, limits):  # both released
        pass


async def test_the_slot_of_a_killed_process_frees_itself_after_the_lease(settings):
    settings.AIPORTAL_INFLIGHT_LEASE = 0.4
    env = {
        **os.environ,
        "AIPORTAL_REDIS_PREFIX": settings.REDIS_PREFIX,
        "AIPORTAL_INFLIGHT_LEASE_MS": "400",
        "DJANGO_SETTINGS_MODULE": "aiportal.settings",
        "PYTHONPATH": str(ROOT),
    }
    holder = Process([sys.executable, "-c", _HOLDER], env=env)
    try:
        holder.wait_for_line(re.compile("HELD"), timeout=30)
        await asyncio.sleep(0.6)  # longer than the lease: its renewals keep it
        caller, limits = Caller(user_id=777), Limits(max_streams=1)
        with pytest.raises(RateLimited):
            async with stream_slot(caller, limits):
                pass
        holder.popen.kill()  # no finally, no release
        holder.popen.wait()
        with pytest.raises(RateLimited):
            async with stream_slot(caller, limits):
                pass
        await asyncio.sleep(0.5)
        async with stream_slot(caller, limits):
            pass
    finally:
        holder.stop()


async def test_without_redis_admission_fails_open(settings):
    from gateway.admission import budget_check
    from gateway.callers import policies_version
    from tests.conftest import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    caller, limits = Caller(user_id=5), Limits(max_streams=1, daily_tokens=10)
    await budget_check(caller, limits)
    async with stream_slot(caller, limits), stream_slot(caller, limits):
        pass
    assert (await policies_version()).startswith("unknown-")


async def test_more_concurrent_redis_commands_than_connections_wait_their_turn():
    from gateway.redis import MAX_CONNECTIONS, lease_count

    counts = await asyncio.gather(*(lease_count("x") for _ in range(MAX_CONNECTIONS * 2)))
    assert counts == [0] * (MAX_CONNECTIONS * 2)


_HOLDER = """
import asyncio, django
django.setup()
from gateway.admission import stream_slot
from gateway.callers import Caller, Limits

async def main():
    async with stream_slot(Caller(user_id=777), Limits(max_streams=1)):
        print("HELD", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


# --- Daily token budgets --------------------------------------------------------------------


async def test_a_spent_budget_refuses_until_the_next_utc_midnight(emulators, pool, owner):
    pool(f"{emulators()}@test-a")
    await policy_create(user=owner, daily_token_budget=40)
    _, finished = await chat_collect(messages=QUESTION, max_tokens=30, user=owner)
    used = finished.usage["prompt_tokens"] + finished.usage["completion_tokens"]
    assert used > 40
    assert await budget_used(user_id=owner.pk) == used
    with pytest.raises(OverBudget) as caught:
        await chat_collect(messages=QUESTION, max_tokens=5, user=owner)
    now = datetime.now(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    assert caught.value.resets_at == midnight
    assert (caught.value.code, caught.value.status) == ("over_budget", 429)
    assert 0 < caught.value.retry_after <= 86400


async def test_a_budget_raised_after_it_was_spent_applies_to_the_next_chat(emulators, pool, owner):
    """The chat resolves its caller under the version this process last read; a refusal
    made before admission confirmed it (the budget check) is checked against the current
    version, so the raised budget applies at once, not when the cache expires."""
    pool(f"{emulators()}@test-a")
    policy = await policy_create(user=owner, daily_token_budget=40)
    await chat_collect(messages=QUESTION, max_tokens=30, user=owner)
    with pytest.raises(OverBudget):
        await chat_collect(messages=QUESTION, max_tokens=5, user=owner)

    policy.daily_token_budget = 100_000
    await sync_to_async(policy.save)()  # bumps the version once committed

    _, finished = await chat_collect(messages=QUESTION, max_tokens=5, user=owner)
    assert finished.usage["completion_tokens"] > 0


async def test_a_groups_shared_budget_stops_every_member(emulators, pool, owner, member, outsider):
    pool(f"{emulators()}@test-a")
    team = await _group("team", owner, member)
    await policy_create(group=team, group_daily_token_budget=40)
    await chat_collect(messages=QUESTION, max_tokens=30, user=owner)
    assert await budget_used(group_id=team.pk) > 40
    with pytest.raises(OverBudget, match="group"):
        await chat_collect(messages=QUESTION, max_tokens=5, user=member)
    await chat_collect(messages=QUESTION, max_tokens=5, user=outsider)  # not in the team


# --- Residency ------------------------------------------------------------------------------


async def test_a_user_kept_in_eu_west_is_never_served_from_us_east(emulators, pool, owner):
    eu, us = emulators.many(("eu-west", "--unhealthy"), ("us-east",))
    pool(f"{eu}@eu-west", f"{us}@us-east")
    await snapshot_ready(us)
    await policy_create(user=owner, allowed_regions="eu-west")
    with pytest.raises(RegionUnavailable) as caught:
        await chat_collect(messages=QUESTION, max_tokens=5, user=owner)
    assert (caught.value.code, caught.value.status) == ("region_unavailable", 503)
    assert (await emulator_state(us))["started"] == 0
    await faults_set(eu)  # eu-west is back
    await snapshot_ready(eu)
    _, finished = await chat_collect(messages=QUESTION, max_tokens=5, user=owner)
    assert finished.metrics["region"] == "eu-west"
    assert (await emulator_state(us))["started"] == 0


# --- The fair queue -------------------------------------------------------------------------


async def test_queued_requests_of_two_users_take_turns():
    queue, slots, order = FairQueue(), [0], []

    async def has_capacity() -> bool:
        return slots[0] > 0

    async def request(user: str, n: int) -> None:
        await queue.wait(user_key=user, has_capacity=has_capacity, wait_for=10)
        slots[0] -= 1
        order.append(f"{user}{n}")

    tasks = [asyncio.create_task(request("a", n)) for n in range(3)]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(request("b", n)) for n in range(2)]
    await asyncio.sleep(0.01)
    assert order == [] and len(queue) == 5
    for _ in range(5):  # one worker slot frees at a time
        slots[0] += 1
        queue.notify()
        while slots[0]:
            await asyncio.sleep(0.005)
    await asyncio.gather(*tasks)
    assert order == ["a0", "b0", "a1", "b1", "a2"]


async def test_a_saturated_pool_queues_then_answers_429(emulators, pool, owner, settings):
    from gateway.models import Worker

    url = emulators("--tokens-per-second", "20")
    pool(f"{url}@test-a")
    await sync_to_async(Worker.objects.create)(base_url=url, region="test-a", max_concurrency=1)
    await _concurrency_seen(url, 1)
    settings.AIPORTAL_QUEUE_TIMEOUT = 0.3
    running = await _open_stream(user=owner)
    with pytest.raises(RateLimited) as caught:
        await chat_collect(messages=QUESTION, max_tokens=5)
    assert "busy" in caught.value.detail
    # With time to wait, the queued request goes as soon as the running one ends.
    settings.AIPORTAL_QUEUE_TIMEOUT = 10
    waiting = asyncio.create_task(chat_collect(messages=QUESTION, max_tokens=5))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await running.aclose()
    _, finished = await asyncio.wait_for(waiting, 10)
    assert finished.finish_reason == "length"


async def _concurrency_seen(url: str, limit: int) -> None:
    from gateway.telemetry.snapshot import workers_snapshot

    for _ in range(100):
        views = {view.url: view for view in await workers_snapshot()}
        view = views.get(url)
        if view and view.healthy and view.spec.max_concurrency == limit:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the admin row never reached the snapshot")


async def test_a_chat_whose_rules_change_at_every_try_is_refused_clearly(monkeypatch, owner):
    """Three tries, each turned back by admission: a clear, retryable error, not an answer
    under rules that were not current, and never an endless loop."""
    from gateway import proxy
    from gateway.callers import PolicyChanged
    from gateway.errors import PoliciesChanging

    tried: list[str] = []

    async def turned_back(*, endpoint, body, report):
        tried.append(report.caller.policy_check.version)
        raise PolicyChanged(f"v{len(tried) + 1}")
        yield  # an async generator, as _stream is

    monkeypatch.setattr(proxy, "_stream", turned_back)
    monkeypatch.setattr(proxy, "policies_version_known", lambda: "v1")

    with pytest.raises(PoliciesChanging) as caught:
        await chat_collect(messages=QUESTION, user=owner)

    assert tried == ["v1", "v2", "v3"]
    assert (caught.value.code, caught.value.status, caught.value.retryable) == (
        "policies_changed",
        503,
        True,
    )
