"""Sampling settings for chat_stream (gateway/sampling.py): only what is set reaches the
body, and a value out of range is refused before any worker is asked."""

from __future__ import annotations

import pytest

from gateway import sampling_body


def test_nothing_set_adds_nothing():
    assert sampling_body(None) == {}
    assert sampling_body({}) == {}


def test_set_values_reach_the_body_as_floats():
    assert sampling_body({"temperature": 0, "top_p": 1}) == {"temperature": 0.0, "top_p": 1.0}
    assert sampling_body({"top_p": 0.5}) == {"top_p": 0.5}


@pytest.mark.parametrize(
    "sampling",
    [
        {"temperature": 2.01},
        {"temperature": -1},
        {"temperature": float("nan")},
        {"temperature": True},
        {"top_p": 0},
        {"top_p": 1.01},
        {"top_p": "0.5"},
        {"seed": 1},
    ],
)
def test_a_value_out_of_range_or_unknown_is_refused(sampling):
    with pytest.raises(ValueError):
        sampling_body(sampling)
