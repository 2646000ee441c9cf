"""Must-show accounting against the simulated well, over hours of simulated time in the real store:
head-corrected 以电折水 within 2 % of the water truly pumped while the water level changes (the
fixed coefficient's error reported beside it), every meter-health alarm raised by the fault
that should cause it and cleared when it goes, and none over a long normal run."""

from __future__ import annotations

from dataclasses import replace

import pytest
from accounting_support import SimulatedFeed, site, stored

from gateway.accounting.engine import AccountingEngine
from gateway.accounting.plan import build_plan
from gateway.accounting.service import AccountingRoom

HOUR = 3600.0


def ok_clock():
    return 1, "test clock"


def derived_sum(records) -> float:
    return sum(r.value for r in records if r.kind == "volume" and r.point == "derived")


@pytest.mark.parametrize(("model", "coefficient"), [
    ("head_ratio", "calibration_head_m = 35.0"),
    ("efficiency", "efficiency = 0.45"),
])
def test_head_corrected_derived_volume_within_2_percent_while_the_level_changes(
        tmp_path, model, coefficient):
    # k calibrated at the resting head of 35 m (367.1 × 0.45 / 35 = 4.72 m³/kWh); then the water
    # table falls 2 m every 3 hours (a dry season compressed) on top of each run's drawdown.
    config = site(tmp_path, coefficient=None, extra=f"""
        [[well.accounting.coefficients]]
        version = 1
        value_m3_per_kwh = 4.72
        valid_from = 2025-01-01T00:00:00+08:00
        method = "calibration"
        source = "test"
        {coefficient}
    """.replace('model = "head_ratio"', ""))
    config = config.model_copy(update={"well": config.well.model_copy(update={
        "accounting": config.well.accounting.model_copy(update={
            "head": config.well.accounting.head.model_copy(update={"model": model})})})})
    feed = SimulatedFeed(config)
    try:
        room = AccountingRoom(build_plan(config), feed.sink, feed.state_dir,
                              clock_probe=ok_clock)
        feed.run(10, every=10, room=room)
        first = feed.well.snapshot()
        heads = []
        for step, depth in enumerate((30.0, 32.0, 34.0, 36.0)):
            if step:
                feed.well.set_params(static_depth_m=depth)
            for _ in range(6):
                feed.run(0.5 * HOUR, every=10, room=room)
                heads.append(feed.well.snapshot().head_m)
        room.close()
        assert feed.sink.flush()
        last = feed.well.snapshot()
    finally:
        feed.close()
    true_volume = last.volume_m3 - first.volume_m3
    records = stored(feed.state_dir)
    derived = derived_sum(records)
    metered = sum(r.value for r in records if r.kind == "volume" and r.point == "metered")
    fixed_engine = AccountingEngine(replace(build_plan(config), head_model="fixed"))
    made = []
    for record in records:
        fixed_engine.process(record)
        made += fixed_engine.take_group()
    fixed_engine.close_partial()
    fixed = derived_sum(made + fixed_engine.take_group())
    error, fixed_error = derived / true_volume - 1, fixed / true_volume - 1
    print(f"\n{model}: {len(heads)} half hours, head {min(heads):.1f}..{max(heads):.1f} m; "
          f"true {true_volume:.2f} m³, metered {metered:.2f} m³, derived {derived:.2f} m³ "
          f"({error:+.2%}), fixed coefficient {fixed:.2f} m³ ({fixed_error:+.2%})")
    assert max(heads) - min(heads) > 5  # the water level did change
    assert abs(error) < 0.02
    assert metered == pytest.approx(true_volume, rel=1e-3)
    assert fixed_error > 0.05  # k calibrated at 35 m over-reads the water lifted from deeper
    assert abs(fixed_error) > 3 * abs(error)


ALARMS = """
[well.accounting.alarms.level]
control_depth_m = 37.0
window_s = 21600
raise_after_s = 1800
clear_after_s = 1800

[well.accounting.alarms.drift]
window_s = 21600
raise_after_s = 1800
clear_after_s = 1800
"""


def alarm_events(state_dir) -> list[tuple[str, str, str]]:
    return [(r.point, r.device, r.value) for r in stored(state_dir, "alarm")]


def test_a_long_normal_run_raises_no_alarm_and_flags_nothing(tmp_path):
    # Two days: 48 pump starts and stops, 5-7 m of drawdown each time, every rule on.
    config = site(tmp_path, ALARMS)
    feed = SimulatedFeed(config)
    try:
        room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        feed.run(48 * HOUR, every=20, room=room)
        room.close()
        assert feed.sink.flush()
    finally:
        feed.close()
    assert alarm_events(feed.state_dir) == []
    assert stored(feed.state_dir, "flag") == []
    assert len([r for r in stored(feed.state_dir, "volume") if r.point == "metered"]) > 90


def _empty_pipe(well):
    well.inject("flow-meter", "empty_pipe")
    return lambda: well.clear("flow-meter", "empty_pipe")


def _stuck_total(well):
    well.inject("flow-meter", "freeze", points="forward_total")
    return lambda: well.clear("flow-meter", "freeze")


def _dead_power_reading(well):
    well.inject("pump-energy", "freeze", points=["active_power", "import_energy"],
                values={"active_power": 0.0})
    return lambda: well.clear("pump-energy", "freeze")


def _reset(well):
    well.inject("flow-meter", "reset", point="forward_total")
    return lambda: None


def _worn_pump(well):
    well.set_params(efficiency=0.38)  # k falls 16 %: the calibrated 以电折水 over-reads
    return lambda: well.set_params(efficiency=0.45)


def _dry_season(well):
    well.set_params(static_depth_m=38.0)  # water below the 37 m control level
    return lambda: well.set_params(static_depth_m=30.0)


# (fault, hours it lasts, hours after it, the alarms it must raise and clear; where a fault
# also shows in another rule, that is named with why)
FAULTS = [
    ("empty pipe: pump runs, the meter sees no water", _empty_pipe, 0.25, 1.0,
     {("power_without_flow", "flow-meter"), ("meter_status", "flow-meter")}),  # its error bit
    ("flow meter totaliser stuck", _stuck_total, 0.25, 1.0,
     {("totaliser_stuck", "flow-meter")}),
    ("energy meter dead: no power, no kWh", _dead_power_reading, 0.25, 1.0,
     {("flow_without_power", "pump-energy")}),
    ("flow meter reset to zero", _reset, 0.0, 1.5, {("totaliser_backwards", "flow-meter")}),
    ("worn pump: derived and metered drift apart", _worn_pump, 8.0, 10.0,
     {("drift", "pump-energy")}),
    ("water table below the control level", _dry_season, 8.0, 10.0,
     {("level_below_control", "well-level")}),
]


@pytest.mark.parametrize(("what", "fault", "lasts_h", "after_h", "expected"), FAULTS,
                         ids=[f[0].split(":")[0] for f in FAULTS])
def test_each_fault_raises_its_alarm_and_its_end_clears_it(tmp_path, what, fault, lasts_h,
                                                           after_h, expected):
    config = site(tmp_path, ALARMS)
    feed = SimulatedFeed(config)
    try:
        room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        feed.run(HOUR + 300, every=10, room=room)  # the second run of the pump, 5 min in
        assert alarm_events(feed.state_dir) == []
        end_fault = fault(feed.well)
        feed.run(lasts_h * HOUR, every=10, room=room)
        raised = {(name, device) for name, device, action in alarm_events(feed.state_dir)
                  if action == "raised"}
        end_fault()
        feed.run(after_h * HOUR, every=10, room=room)
        room.close()
        assert feed.sink.flush()
    finally:
        feed.close()
    events = alarm_events(feed.state_dir)
    assert raised == expected or (lasts_h == 0 and not raised), what
    assert sorted(events) == sorted([(n, d, "raised") for n, d in expected]
                                    + [(n, d, "cleared") for n, d in expected]), what
    for name, device in expected:  # raised before cleared
        actions = [a for n, d, a in events if (n, d) == (name, device)]
        assert actions == ["raised", "cleared"], what


def test_a_0_01_dip_of_the_totaliser_raises_no_held_amount(tmp_path):
    # The pump runs the first 30 min of each hour. At 36 min (pump stopped, the total standing)
    # the flow meter's totaliser dips by 0.01 m³ (its two-decimal resolution) and stays there.
    # Hand-worked: the dip is noise: no flag, nothing held, and the metered total is what was
    # pumped since the first reading, to within the 0.01 (before: a reset with the register's
    # whole value, about 5,000..300,000 m³, held for a person to "count").
    feed = SimulatedFeed(site(tmp_path))
    try:
        room = AccountingRoom.from_config(feed.config, feed.sink, clock_probe=ok_clock)
        feed.run(10, every=10, room=room)
        first = feed.well.snapshot().volume_m3
        feed.run(0.6 * HOUR - 10, every=10, room=room)
        assert not feed.well.snapshot().pump_on
        feed.well.meter("flow-meter")._volume_offset -= 0.01
        feed.run(0.9 * HOUR, every=10, room=room)  # the pump runs again from 60 min
        room.close()
        assert feed.sink.flush()
        pumped = feed.well.snapshot().volume_m3 - first
    finally:
        feed.close()
    records = stored(feed.state_dir)
    flags = [r for r in records if r.kind == "flag"]
    assert flags == []
    metered = [r for r in records if r.kind == "volume" and r.point == "metered"]
    assert sum(r.data["held"] for r in metered) == 0
    assert sum(r.data["kinds"].get("jitter", 0) for r in metered) >= 1
    assert pumped > 10  # the pump ran both before and after the dip
    assert sum(r.value for r in metered) == pytest.approx(pumped, abs=0.011)
