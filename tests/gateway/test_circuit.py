"""The per-worker circuit breaker: its states, and the proxy steering around an open one."""

from __future__ import annotations

import asyncio
import time

from gateway.callers import Caller
from gateway.circuit import (
    circuit_attempt_allowed,
    circuit_is_open,
    circuit_record_failure,
    circuit_record_success,
    circuit_release,
    circuit_state,
)
from tests.gateway.proxy_support import (  # noqa: F401
    MODEL,
    QUESTION,
    emulator_state,
    emulators_fixture,
    faults_set,
    frames_collect,
    gateway_isolated_fixture,
    snapshot_ready,
)

URL = "http://worker.test:8000"


def test_it_opens_after_the_configured_consecutive_failures(settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 3
    circuit_record_failure(URL)
    circuit_record_failure(URL)
    assert not circuit_is_open(URL)
    circuit_record_failure(URL)
    assert circuit_is_open(URL)
    assert circuit_state(URL) == "open"
    assert not circuit_attempt_allowed(URL)


def test_a_success_in_between_starts_the_count_again(settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 2
    circuit_record_failure(URL)
    circuit_record_success(URL)
    circuit_record_failure(URL)
    assert not circuit_is_open(URL)


def test_after_the_cool_down_exactly_one_trial_goes_through(settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 1
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 0.1
    circuit_record_failure(URL)
    assert circuit_is_open(URL)
    time.sleep(0.15)
    assert circuit_state(URL) == "half_open"
    assert not circuit_is_open(URL)  # routing may consider it again…
    assert circuit_attempt_allowed(URL)  # …one request takes the trial…
    assert circuit_is_open(URL)
    assert not circuit_attempt_allowed(URL)  # …and the next waits for its verdict.


def test_a_successful_trial_closes_the_circuit(settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 1
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 0.05
    circuit_record_failure(URL)
    time.sleep(0.08)
    assert circuit_attempt_allowed(URL)
    circuit_record_success(URL)
    assert circuit_state(URL) == "closed"
    assert circuit_attempt_allowed(URL) and circuit_attempt_allowed(URL)


def test_a_failed_trial_opens_it_for_another_cool_down(settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 5
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 0.05
    for _ in range(5):
        circuit_record_failure(URL)
    time.sleep(0.08)
    assert circuit_attempt_allowed(URL)
    circuit_record_failure(URL)  # one failure is enough for a trial
    assert circuit_state(URL) == "open"


def test_a_trial_the_client_abandoned_lets_the_next_request_try(settings):
    settings.AIPORTAL_CIRCUIT_FAILURES = 1
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 0.05
    circuit_record_failure(URL)
    time.sleep(0.08)
    assert circuit_attempt_allowed(URL)
    circuit_release(URL)
    assert circuit_attempt_allowed(URL)


async def test_the_proxy_skips_a_worker_whose_circuit_opened_and_tries_it_again_later(
    emulators, pool, settings
):
    settings.AIPORTAL_CIRCUIT_FAILURES = 2
    settings.AIPORTAL_CIRCUIT_COOLDOWN = 0.5
    # A 500 that another worker's answer convicts (a 503 is only busy: no strike).
    flaky, steady = emulators.many(("home", "--status-500"), ("away",))
    pool(f"{flaky}@home", f"{steady}@away")
    await snapshot_ready(flaky, steady)
    home = Caller(home_region="home")
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 3, "stream": True}

    async def ask() -> None:
        await frames_collect(endpoint="chat/completions", body=body, caller=home)

    await ask()
    await ask()  # two failovers away from the flaky worker: its circuit opens
    assert circuit_state(flaky) == "open"
    await faults_set(flaky)  # it recovers, but the breaker does not know yet
    await ask()
    assert (await emulator_state(flaky))["started"] == 0  # skipped while open
    assert (await emulator_state(steady))["completed"] == 3
    await asyncio.sleep(0.6)
    assert circuit_state(flaky) == "half_open"
    await ask()  # the trial: home again, and it answers
    assert (await emulator_state(flaky))["completed"] == 1
    assert circuit_state(flaky) == "closed"
