"""Totaliser intervals: hand-worked rollover, reset, replacement, spike, order, duplicate cases."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.accounting.counters import (
    CLEAN,
    DUPLICATE,
    FIRST,
    INVALID,
    OUT_OF_ORDER,
    REPLACEMENT,
    RESET,
    ROLLOVER,
    SPIKE,
    CounterParams,
    Sample,
    TotaliserTracker,
    wrap_for_display_maximum,
    wrap_for_register_bits,
)

# A 60 m³/h pump with the default margin 1.5 may move a total by 60 × h × 1.5 (+ one count):
# 600 s → 15, 1200 s → 30, 1800 s → 45.
PUMP = CounterParams(max_rate_per_h=60.0)
U16_M3 = CounterParams(60.0, wrap_value=wrap_for_register_bits(16), count_resolution=1.0)  # 65536
U32_CM3 = CounterParams(60.0, wrap_value=wrap_for_register_bits(32, 0.01), count_resolution=0.01)
DLT645_KWH = CounterParams(  # a 7.5 kW pump on a DL/T 645 meter that shows at most 999999.99 kWh
    7.5, wrap_value=wrap_for_display_maximum(999_999.99, 0.01), count_resolution=0.01
)
DISPLAY_8_DIGITS = CounterParams(
    60.0, wrap_value=wrap_for_display_maximum(99_999_999, 1), count_resolution=1
)

# Each step: ("r", value, wall_time[, quality]) a reading (mono = wall, one boot, seq counts up),
# ("replace", new_start, at_time, old_final) an installer's record.
# Each expectation: (kind, counted delta, held, whether a person is flagged).
CASES = [
    (
        "clean rise",
        PUMP,
        [("r", 100.0, 0), ("r", 110.0, 600)],
        # 110 − 100 = 10 ≤ 15 allowed in 600 s
        [(FIRST, 0, 0, False), (CLEAN, 10.0, 0, False)],
    ),
    (
        "rollover at 2^16 m³",
        U16_M3,
        [("r", 65530, 0), ("r", 4, 600)],
        # wrap 65536: 65536 − 65530 = 6 ≤ 1 % of 65536 = 655.36: near the wrap; 6 + 4 = 10 ≤ 15 + 1
        [(FIRST, 0, 0, False), (ROLLOVER, 10.0, 0, False)],
    ),
    (
        "rollover at 2^32 × 0.01 m³",
        U32_CM3,
        [("r", 42_949_670.00, 0), ("r", 3.04, 600)],
        # wrap 4294967296 × 0.01 = 42949672.96: (42949672.96 − 42949670.00) + 3.04 = 2.96 + 3.04
        [(FIRST, 0, 0, False), (ROLLOVER, 6.00, 0, False)],
    ),
    (
        "rollover at DL/T 645 maximum 999999.99 kWh",
        DLT645_KWH,
        [("r", 999_995.50, 0), ("r", 2.30, 3600)],
        # wrap 999999.99 + 0.01 = 1000000.00: 4.50 + 2.30 = 6.80 kWh ≤ 7.5 × 1 h × 1.5 + 0.01
        [(FIRST, 0, 0, False), (ROLLOVER, 6.80, 0, False)],
    ),
    (
        "rollover at display maximum 99,999,999 m³",
        DISPLAY_8_DIGITS,
        [("r", 99_999_990, 0), ("r", 5, 1800)],
        # wrap 100000000: 10 + 5 = 15 ≤ 60 × 0.5 h × 1.5 + 1 = 46
        [(FIRST, 0, 0, False), (ROLLOVER, 15.0, 0, False)],
    ),
    (
        "reset to near zero",
        U32_CM3,
        [("r", 5000.00, 0), ("r", 3.00, 600), ("r", 9.00, 1200)],
        # 5000 is far from the wrap 42949672.96: a reset; 3.00 ≤ 15.01 is plausible since the reset:
        # counted 3.00, flagged; then 9 − 3 = 6 clean
        [(FIRST, 0, 0, False), (RESET, 3.00, 0, True), (CLEAN, 6.00, 0, False)],
    ),
    (
        "decrease to a mid value",
        PUMP,
        [("r", 5000.0, 0), ("r", 2000.0, 600), ("r", 2010.0, 1200)],
        # 2000 > 15: neither near zero nor a rollover → nothing counted, 2000 held; 2010 − 2000 = 10
        [(FIRST, 0, 0, False), (RESET, 0, 2000.0, True), (CLEAN, 10.0, 0, False)],
    ),
    (
        "near the wrap but too far past it",
        U16_M3,
        [("r", 65530, 0), ("r", 30, 600)],
        # rollover would be 6 + 30 = 36 > 16, and 30 > 16 is not near zero → held 30
        [(FIRST, 0, 0, False), (RESET, 0, 30.0, True)],
    ),
    (
        "wrap or reset during a two-day gap",
        U16_M3,
        [("r", 64000, 0), ("r", 100, 172_800)],
        # allowance 60 × 48 h × 1.5 + 1 = 4321; 65536 − 64000 = 1536 > 655.36: not near the wrap →
        # a reset: counted 100 (≤ 4321); a rollover would add 1536 more: held for a person
        [(FIRST, 0, 0, False), (RESET, 100.0, 1536.0, True)],
    ),
    (
        "replacement recorded by an installer",
        PUMP,
        [("r", 5000.0, 0), ("replace", 12.0, 600, None), ("r", 20.0, 1200), ("r", 25.0, 1800)],
        # old meter: nothing after 5000 is known; new meter from 12: 20 − 12 = 8, then 25 − 20 = 5
        [
            (FIRST, 0, 0, False),
            (REPLACEMENT, 0, 0, True),
            (REPLACEMENT, 8.0, 0, True),
            (CLEAN, 5.0, 0, False),
        ],
    ),
    (
        "replacement with the old meter's final reading",
        PUMP,
        [("r", 5000.0, 0), ("replace", 12.0, 600, 5004.0), ("r", 20.0, 1200)],
        # 5004 − 5000 = 4 ≤ 15 (installer's reading of the old meter), then 20 − 12 = 8
        [(FIRST, 0, 0, False), (REPLACEMENT, 4.0, 0, True), (REPLACEMENT, 8.0, 0, True)],
    ),
    (
        "new meter below its recorded start",
        PUMP,
        [("r", 5000.0, 0), ("replace", 12.0, 600, None), ("r", 2.0, 1200), ("r", 7.0, 1800)],
        # 2 < 12: the start reading was wrong, nothing counted; 7 − 2 = 5
        [
            (FIRST, 0, 0, False),
            (REPLACEMENT, 0, 0, True),
            (REPLACEMENT, 0, 0, True),
            (CLEAN, 5.0, 0, False),
        ],
    ),
    (
        "spike that was a glitch",
        PUMP,
        [("r", 1000.0, 0), ("r", 1100.0, 600), ("r", 1005.0, 1200)],
        # 100 > 15 in 600 s: held; next is 1005 − 1000 = 5 ≤ 30 from the last accepted reading
        [(FIRST, 0, 0, False), (SPIKE, 0, 100.0, True), (CLEAN, 5.0, 0, False)],
    ),
    (
        "spike that the meter keeps",
        PUMP,
        [("r", 1000.0, 0), ("r", 1100.0, 600), ("r", 1108.0, 1200)],
        # the 100 stays held; 1108 − 1100 = 8 ≤ 15 continues from the spiked value
        [(FIRST, 0, 0, False), (SPIKE, 0, 100.0, True), (CLEAN, 8.0, 0, False)],
    ),
    (
        "spike, then another",
        PUMP,
        [("r", 1000.0, 0), ("r", 1100.0, 600), ("r", 1300.0, 1200)],
        # 1300 − 1100 = 200 > 15 does not continue the first; 1300 − 1000 = 300 > 30: held again
        [(FIRST, 0, 0, False), (SPIKE, 0, 100.0, True), (SPIKE, 0, 300.0, True)],
    ),
    (
        "out-of-order reading",
        PUMP,
        [("r", 100.0, 600), ("r", 95.0, 300), ("r", 110.0, 1200)],
        # 300 < 600: ignored; 110 − 100 = 10 from the last accepted reading
        [(FIRST, 0, 0, False), (OUT_OF_ORDER, 0, 0, True), (CLEAN, 10.0, 0, False)],
    ),
    (
        "conflicting readings at one instant",
        PUMP,
        [("r", 100.0, 600), ("r", 101.0, 600), ("r", 104.0, 1200)],
        # same time, other value: ignored and flagged; 104 − 100 = 4
        [(FIRST, 0, 0, False), (DUPLICATE, 0, 0, True), (CLEAN, 4.0, 0, False)],
    ),
    (
        "invalid reading skipped",
        PUMP,
        [("r", 100.0, 0), ("r", None, 300, "invalid"), ("r", 110.0, 600)],
        # skipping loses time resolution, not volume: 110 − 100 = 10 over 600 s
        [(FIRST, 0, 0, False), (INVALID, 0, 0, True), (CLEAN, 10.0, 0, False)],
    ),
]


def _run(params, steps, tracker=None, first_seq=1):
    tracker = tracker or TotaliserTracker(params)
    results = []
    for seq, step in enumerate(steps, start=first_seq):
        if step[0] == "replace":
            _, start, at, final = step
            results.append(tracker.replace(start, at, old_final=final))
            continue
        value, wall = step[1], step[2]
        quality = step[3] if len(step) > 3 else "good"
        results.append(tracker.update(Sample(value, wall, float(wall), "boot-1", seq, quality)))
    return results


@pytest.mark.parametrize(("name", "params", "steps", "expected"), CASES, ids=[c[0] for c in CASES])
def test_counter_case(name, params, steps, expected):
    results = _run(params, steps)
    got = [(r.kind, r.delta, r.held, r.flag is not None) for r in results]
    assert [g[0] for g in got] == [e[0] for e in expected], name
    for (kind, delta, held, flagged), (_, want_delta, want_held, want_flag) in zip(
        got, expected, strict=True
    ):
        assert delta == pytest.approx(want_delta, abs=1e-6), (name, kind)
        assert held == pytest.approx(want_held, abs=1e-6), (name, kind)
        assert flagged is want_flag, (name, kind, results)


@pytest.mark.parametrize(("name", "params", "steps", "expected"), CASES, ids=[c[0] for c in CASES])
def test_state_round_trip_gives_the_same_results(name, params, steps, expected):
    # Persist after every step and continue in a fresh tracker, as after a gateway restart.
    straight = _run(params, steps)
    tracker, resumed = TotaliserTracker(params), []
    for i in range(len(steps)):
        resumed += _run(params, [steps[i]], tracker, first_seq=i + 1)
        tracker = TotaliserTracker(params, tracker.to_state())
    assert [(r.kind, r.delta, r.held, r.flag) for r in resumed] == [
        (r.kind, r.delta, r.held, r.flag) for r in straight
    ]


def test_exact_redelivery_is_a_silent_duplicate():
    tracker = TotaliserTracker(PUMP)
    tracker.update(Sample(100.0, 0.0, 0.0, "b", 7))
    again = tracker.update(Sample(100.0, 0.0, 0.0, "b", 7))
    assert (again.kind, again.delta, again.flag) == (DUPLICATE, 0.0, None)


def test_monotonic_clock_decides_within_a_boot_and_wall_clock_across_boots():
    tracker = TotaliserTracker(PUMP)
    tracker.update(Sample(100.0, 10_000.0, 50.0, "boot-a", 1))
    # NTP set the wall clock back an hour, but 300 s passed on the monotonic clock: 5 ≤ 7.5 clean.
    stepped = tracker.update(Sample(105.0, 6_700.0, 350.0, "boot-a", 2))
    assert (stepped.kind, stepped.delta) == (CLEAN, 5.0)
    # After a reboot the monotonic clock restarts: 1200 s of wall time allow 30, rise is 20.
    rebooted = tracker.update(Sample(125.0, 7_900.0, 3.0, "boot-b", 3))
    assert (rebooted.kind, rebooted.delta) == (CLEAN, 20.0)


def test_replacement_before_the_last_reading_is_refused():
    tracker = TotaliserTracker(PUMP)
    tracker.update(Sample(100.0, 600.0, 600.0, "b", 1))
    with pytest.raises(ValueError, match="before the last reading at 600"):
        tracker.replace(0.0, 300.0)


def test_params_say_what_was_wrong():
    with pytest.raises(ValueError, match="max_rate_per_h must be > 0, got 0"):
        CounterParams(0.0)
    with pytest.raises(ValueError, match="near_wrap_fraction must be in"):
        CounterParams(1.0, near_wrap_fraction=0.7)
    with pytest.raises(ValueError, match="version None"):
        TotaliserTracker(PUMP, {"base": None})


# -- properties -----------------------------------------------------------------------------------
@st.composite
def monotonic_run(draw):
    """A true total that only rises, read through a wrapping register, starting near the wrap."""
    bits = draw(st.sampled_from([16, 32]))
    scale = draw(st.sampled_from([1.0, 0.1, 0.01, 0.001]))
    rate = draw(st.floats(1.0, 200.0))  # m³/h
    wrap_counts = 2**bits
    near = int(0.01 * wrap_counts)  # the near-wrap window, in counts
    start = wrap_counts - draw(st.integers(0, near))
    counts, wall, readings = start, 0.0, []
    for _ in range(draw(st.integers(1, 60))):
        elapsed = draw(st.floats(1.0, 3600.0))
        # A rise the pump could deliver in `elapsed` and small enough to stay near the wrap point.
        most = min(int(rate * elapsed / 3600 / scale), near)
        counts += draw(st.integers(0, most))
        wall += elapsed
        readings.append((counts, wall))
    wrap = wrap_for_register_bits(bits, scale)
    params = CounterParams(rate, wrap_value=wrap, count_resolution=scale)
    return params, scale, wrap_counts, start, readings


@settings(max_examples=200, deadline=None)
@given(monotonic_run())
def test_clean_deltas_sum_to_the_true_increase(run):
    params, scale, wrap_counts, start, readings = run
    tracker = TotaliserTracker(params)
    tracker.update(Sample((start % wrap_counts) * scale, 0.0, 0.0, "b", 0))
    counted = 0.0
    for seq, (counts, wall) in enumerate(readings, start=1):
        result = tracker.update(Sample((counts % wrap_counts) * scale, wall, wall, "b", seq))
        assert result.kind in (CLEAN, ROLLOVER) and result.flag is None, result
        counted += result.delta
    true_increase = (readings[-1][0] - start) * scale
    assert counted == pytest.approx(true_increase, rel=1e-9, abs=1e-6 * scale * len(readings))


readings = st.tuples(
    st.one_of(st.none(), st.floats(0, 70_000), st.floats(allow_nan=True)),
    st.floats(-1e6, 1e7),  # wall time, possibly out of order
    st.sampled_from(["good", "invalid", "uncertain"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(readings, max_size=40))
def test_any_input_never_counts_negative_nor_adds_without_saying_so(sequence):
    tracker = TotaliserTracker(U16_M3)
    for seq, (value, wall, quality) in enumerate(sequence):
        result = tracker.update(Sample(value, wall, wall, "b", seq, quality))
        assert result.delta >= 0 and result.held >= 0
        assert math.isfinite(result.delta) and math.isfinite(result.held)
        if result.kind not in (CLEAN, ROLLOVER):
            # only clean steps count silently; everything else counted is flagged for a person
            assert result.delta == 0 or result.flag is not None, result
