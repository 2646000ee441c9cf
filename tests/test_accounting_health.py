"""Meter-health rules on the simulated well: each fault raises and clears its alarm, once."""

import math
from functools import lru_cache

import pytest

from gateway.accounting.coefficient import (
    HEAD_RATIO,
    Coefficient,
    HeadParameters,
    depth_to_water_m,
    derived_volume,
    total_head_m,
)
from gateway.accounting.health_rules import (
    FAULT,
    HOLD,
    NORMAL,
    AlarmLatch,
    BackwardsThresholds,
    DriftThresholds,
    PowerFlowThresholds,
    StatusThresholds,
    StuckThresholds,
    Verdict,
    derived_metered_drift,
    flow_without_power,
    meter_status,
    power_without_flow,
    totaliser_backwards,
    totaliser_stuck,
)
from gateway.simulator.physics import WellParams, WellPhysics

PARAMS = WellParams()  # pump 30 min on, 30 min off; water 30 m deep at rest, ~35.5 m pumping
HEAD = HeadParameters(sensor_depth_m=80.0, outlet_height_m=2.0, friction_head_m=3.0)
EVERY = 10  # s between polls
HOUR = 3600
TUF_FLAGS = {3: "pipe_empty", 4: "hardware_failure"}  # from config/profiles/tuf-2000m.toml


@lru_cache(maxsize=1)
def _normal_day():
    """24 h of readings every 10 s: totals truncated to the meters' 0.01 resolution."""
    physics = WellPhysics(PARAMS, seed=11)
    rows = []
    for t in range(0, 24 * HOUR + 1, EVERY):
        s = physics.at(float(t))
        rows.append({
            "t": t, "power": s.power_kw, "flow": s.flow_m3h, "volume": s.volume_m3,
            "energy": s.energy_kwh, "level": s.level_m, "pipe": "full", "error": 0,
        })
    steady = WellPhysics(PARAMS, seed=11).at(1799.0)  # calibrated at the steady pumping head
    coefficient = Coefficient(1, steady.coefficient_m3_per_kwh, 0.0, "calibration", "sim",
                              calibration_head_m=steady.head_m)
    return tuple(rows), coefficient


def _rows():
    return [dict(r) for r in _normal_day()[0]]


def _during(rows, start, end):
    return [r for r in rows if start <= r["t"] < end]


def _freeze(rows, key, start, end):
    """A meter's total stops counting in [start, end) and resumes from there (volume lost)."""
    frozen = next(r for r in rows if r["t"] >= start)[key]
    lost = 0.0
    for r in rows:
        if start <= r["t"] < end:
            lost = r[key] - frozen
            r[key] = frozen
        elif r["t"] >= end:
            r[key] -= lost


def _evaluate(rows, alarms):
    """Every 60 s, run each rule on the series so far; returns every raise/clear decision."""
    coefficient = _normal_day()[1]
    series = {key: [] for key in ("power", "flow", "total", "depth", "pipe", "error")}
    metered, derived, decisions, previous = [], [], [], None
    latches = {name: AlarmLatch(name, th.raise_after_s, th.clear_after_s)
               for name, (_, th) in alarms.items()}
    for r in rows:
        t = r["t"]
        total = math.floor(r["volume"] * 100) / 100
        energy = math.floor(r["energy"] * 100) / 100
        for key, value in (("power", r["power"]), ("flow", r["flow"]), ("total", total),
                           ("depth", depth_to_water_m(r["level"], HEAD)), ("pipe", r["pipe"]),
                           ("error", r["error"])):
            series[key].append((t, value))
        if t % 60:
            continue
        if previous is not None:  # one-minute intervals of both sources, as accounting makes them
            head = (total_head_m(previous[2], HEAD) + total_head_m(r["level"], HEAD)) / 2
            metered.append((t, total - previous[0]))
            derived.append((t, derived_volume(energy - previous[1], coefficient, head,
                                              HEAD_RATIO).volume_m3))
        previous = (total, energy, r["level"])
        for name, (rule, th) in alarms.items():
            decision = latches[name].update(rule(series, metered, derived, t, th), t)
            if decision:
                decisions.append(decision)
    return decisions


RULES = {
    "power_without_flow": (lambda s, m, d, t, th: power_without_flow(s["power"], s["flow"], t, th),
                           PowerFlowThresholds()),
    "flow_without_power": (lambda s, m, d, t, th: flow_without_power(s["power"], s["flow"], t, th),
                           PowerFlowThresholds()),
    "totaliser_backwards": (lambda s, m, d, t, th: totaliser_backwards(s["total"], t, th),
                            BackwardsThresholds()),
    "totaliser_stuck": (lambda s, m, d, t, th: totaliser_stuck(s["total"], s["flow"], t, th),
                        StuckThresholds()),
    "meter_status": (lambda s, m, d, t, th: meter_status(s["pipe"], s["error"], t, th),
                     StatusThresholds(flag_names=TUF_FLAGS)),
    "drift": (lambda s, m, d, t, th: derived_metered_drift(m, d, t, th), DriftThresholds()),
}


def _only(name, **overrides):
    rule, th = RULES[name]
    return {name: (rule, type(th)(**{**th.__dict__, **overrides}))}


def _times(decisions):
    return [(d.action, d.at_time) for d in decisions]


def test_a_long_normal_run_raises_no_alarm():
    # 24 h, 24 pump starts and stops, drawdown of 5.5 m each time: every rule, default thresholds.
    assert _evaluate(_rows(), RULES) == []


def test_power_without_flow_raises_and_clears():
    rows = _rows()
    for r in _during(rows, HOUR + 60, HOUR + 1200):  # flow meter dead while the pump runs
        r["flow"] = 0.0
    _freeze(rows, "volume", HOUR + 60, HOUR + 1200)
    decisions = _evaluate(rows, _only("power_without_flow"))
    # Dead 3660–4800. The window (t − 120, t] is all dead first at t = 3780: raised at 3780 + 120.
    # It is all flowing again first at the evaluation t = 4920: cleared at 4920 + 120.
    assert _times(decisions) == [("raise", 3900), ("clear", 5040)]
    assert "pump drew 7.5" in decisions[0].reason and "flow at most 0 m³/h" in decisions[0].reason


def test_flow_without_power_raises_and_clears():
    rows = _rows()
    for r in _during(rows, HOUR + 60, HOUR + 1200):  # energy meter dead
        r["power"] = 0.0
    decisions = _evaluate(rows, _only("flow_without_power"))
    assert _times(decisions) == [("raise", 3900), ("clear", 5040)]  # as above


def test_totaliser_backwards_raises_on_a_reset_and_clears_when_it_leaves_the_window():
    rows = _rows()
    reset_at = 2 * HOUR + 600
    offset = next(r for r in rows if r["t"] >= reset_at)["volume"]
    for r in rows:
        if r["t"] >= reset_at:
            r["volume"] -= offset
    decisions = _evaluate(rows, _only("totaliser_backwards"))
    # raised at the first evaluation after the fall; cleared when 7800 leaves the 3600 s window.
    assert _times(decisions) == [("raise", 7800), ("clear", 11400)]
    assert decisions[0].reason.startswith("total fell from")


def test_a_rollover_is_not_backwards():
    rows = _rows()
    wrap = 65536 * 0.01  # a u16 register counting 0.01 m³: 655.36 m³
    for r in rows:
        r["volume"] = (r["volume"] + 500.0) % wrap  # wraps after about 155 m³
    assert _evaluate(rows, _only("totaliser_backwards", wrap_value=wrap)) == []
    # the same readings without the wrap value: a fall
    assert [d.action for d in _evaluate(rows, _only("totaliser_backwards"))] == ["raise", "clear"]


def test_totaliser_stuck_while_flow_rate_says_water_moves():
    rows = _rows()
    _freeze(rows, "volume", HOUR + 100, HOUR + 1100)  # register stops, flow rate still reads
    decisions = _evaluate(rows, _only("totaliser_stuck"))
    assert [d.action for d in decisions] == ["raise", "clear"]
    raised, cleared = decisions[0].at_time, decisions[1].at_time
    # the window (600 s) must be ≥ 90 % frozen, then 120 s more: 3700 + 540 + 120 = 4360
    assert 4300 <= raised <= 4440
    # after 4700 half the window must move again (4700 + 300), then 120 s: 5120
    assert 5060 <= cleared <= 5220
    assert "while the flow rate implies" in decisions[0].reason


def test_meter_status_empty_pipe_and_error_bits():
    rows = _rows()
    for r in _during(rows, HOUR + 100, HOUR + 400):
        r["pipe"] = "empty"
    for r in _during(rows, 3 * HOUR, 3 * HOUR + 300):
        r["error"] = 0b1_1000  # bits 3 and 4
    decisions = _evaluate(rows, _only("meter_status"))
    # Empty 3700–4000: first seen at 3720, raised at the next evaluation (60 s ≥ 30 s); full
    # again from 4000: seen at 4020, cleared at 4080 (≥ 60 s). Error bits 10800–11100 likewise.
    assert _times(decisions) == [("raise", 3780), ("clear", 4080), ("raise", 10860),
                                 ("clear", 11160)]
    assert decisions[0].reason == "pipe empty"
    assert decisions[2].reason == "error pipe_empty, hardware_failure"


def test_derived_metered_drift_from_an_energy_meter_reading_high():
    rows = _rows()
    start, end = 4 * HOUR, 12 * HOUR
    base = next(r for r in rows if r["t"] >= start)["energy"]
    stop = next(r for r in rows if r["t"] >= end)["energy"]
    for r in rows:  # the meter counts 10 % more energy between 4 h and 12 h
        r["energy"] += 0.1 * (min(r["energy"], stop) - base) if r["t"] >= start else 0.0
    th = {"window_s": 3 * HOUR, "raise_after_s": 1800.0, "clear_after_s": 1800.0}
    decisions = _evaluate(rows, _only("drift", **th))
    assert [d.action for d in decisions] == ["raise", "clear"]
    assert start < decisions[0].at_time < start + 3 * HOUR
    assert end < decisions[1].at_time < end + 4 * HOUR
    assert "(+" in decisions[0].reason


def test_latch_needs_the_verdict_to_persist_and_hold_resets_the_wait():
    latch = AlarmLatch("x", raise_after_s=100.0, clear_after_s=50.0)
    assert latch.update(Verdict(FAULT, "a"), 0.0) is None
    assert latch.update(Verdict(HOLD, "band"), 60.0) is None  # the wait starts again
    assert latch.update(Verdict(FAULT, "a"), 120.0) is None
    raised = latch.update(Verdict(FAULT, "a"), 220.0)
    assert (raised.action, raised.at_time, latch.active) == ("raise", 220.0, True)
    assert latch.update(Verdict(FAULT, "a"), 300.0) is None  # already raised: nothing new
    resumed = AlarmLatch("x", 100.0, 50.0, latch.to_state())
    assert resumed.update(Verdict(NORMAL, "ok"), 400.0) is None
    assert resumed.update(Verdict(NORMAL, "ok"), 450.0).action == "clear"


@pytest.mark.parametrize(
    ("metered", "derived", "state"),
    [(100.0, 106.0, FAULT), (100.0, 104.0, HOLD), (100.0, 97.5, NORMAL), (4.0, 8.0, HOLD)],
)
def test_drift_bands(metered, derived, state):
    # raise above 5 %, clear below 3 %, judge only at ≥ 5 m³ metered
    verdict = derived_metered_drift([(10.0, metered)], [(10.0, derived)], 20.0, DriftThresholds())
    assert verdict.state == state
