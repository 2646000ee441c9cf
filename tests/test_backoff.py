"""The one back-off of the store, the pollers and the uplink: doubling, capped, reset, jitter."""

from __future__ import annotations

import random

import pytest

from gateway.backoff import Backoff, next_delay


def test_delays_double_from_initial_to_the_cap_and_start_again_after_a_reset():
    backoff = Backoff(1.0, 30.0)
    assert [backoff.next() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_next_delay_is_the_same_step_for_a_caller_that_keeps_the_delay():
    delays, delay = [], 0.0
    for _ in range(8):
        delay = next_delay(delay, 5.0, 300.0)
        delays.append(delay)
    assert delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_jitter_draws_each_wait_from_the_lower_part_of_the_delay():
    backoff = Backoff(2.0, 300.0, jitter=0.5, rng=random.Random(7))
    for _ in range(12):
        wait = backoff.next()
        assert backoff.delay / 2 <= wait <= backoff.delay
    assert backoff.delay == 300.0


def test_a_jitter_outside_0_to_1_is_refused_with_the_value_given():
    with pytest.raises(ValueError, match=r"got 1\.5"):
        Backoff(1.0, 2.0, jitter=1.5)
