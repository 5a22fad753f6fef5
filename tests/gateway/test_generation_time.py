"""An answer's generation time, from which the chat shows its tokens per second: from the
first token to the last, without the time a continued answer waited for its dead worker to
be given up and for the next one to start (that wait is the stall, not the speed)."""

from __future__ import annotations

import pytest

from gateway import proxy
from gateway.callers import Caller


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(proxy.time, "monotonic", lambda: now[0])
    return now


def test_an_answer_that_ran_straight_through_is_timed_from_first_to_last_token(clock):
    report = proxy._Report(caller=Caller(), started=100.0)
    clock[0] += 0.2
    report.frame_sent(1)
    clock[0] += 1.0
    report.frame_sent(21)
    assert report.metrics()["ttft_ms"] == 200
    assert report.metrics()["generation_ms"] == 1000


def test_the_stall_before_a_continuation_is_not_generation_time(clock):
    report = proxy._Report(caller=Caller(), started=100.0)
    clock[0] += 0.2
    report.frame_sent(1)
    clock[0] += 1.0
    report.frame_sent(11)  # ten tokens in a second, then the worker froze
    clock[0] += 29.0  # the idle timeout gives it up; another worker starts
    report.broke_off()
    clock[0] += 0.5
    report.frame_sent(11)  # a frame with no new token (the role delta) is still waiting
    clock[0] += 0.3
    report.frame_sent(12)  # the continuation's first token
    clock[0] += 1.0
    report.frame_sent(22)
    # 1 s before the stall and 1 s after the continuation's first token.
    assert report.metrics()["generation_ms"] == 2000


def test_an_answer_without_a_token_has_no_generation_time(clock):
    assert proxy._Report(caller=Caller(), started=100.0).metrics()["generation_ms"] is None
