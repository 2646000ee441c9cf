"""Groundwater level (issue 15): depth to water from the transmitter's depth and its reading, the
static level as a daily record, each pumping cycle's pumping level and drawdown, and the
control-level alarm (水位控制指标) judged on static levels, raised and cleared as the simulated
well's water table moves. The levels are the simulator's (its physics, read through the QDY30A
profile's registers into a real signed store); the figures to compare are worked by hand.

The simulated well (gateway/simulator/physics.py): water table 30 m deep, transmitter at 80 m,
the pump runs the first 30 min of each hour (7.5 kW, η 0.45, outlet 2 m, friction 3 m),
drawdown follows Q / 5 m³/h per metre with a 900 s time constant.
  Q = 367.1 × 0.45 × 7.5 / (35 + s) = 1239 / (35 + s) m³/h, and the drawdown s follows
  ds/dt = (Q/5 − s) / 900 while pumping, ds/dt = −s / 900 at rest (at equilibrium
  s² + 35 s − 247.8 = 0: s∞ = 6.04 m). Stepped by hand in 1 s steps (a few lines of Python, not
  the simulator) until the cycles repeat: 1770 s into a run (its last reading, every 30 s)
  s = 5.49 m; 1770 s into the rest r = 0.77 m.
So the static level is ≈ 30.77 m, the pumping level at the stop ≈ 35.49 m and the drawdown per
cycle ≈ 35.49 − 30.77 = 4.72 m. With the water table at 38 m (the pump lifting from deeper pumps
less: less drawdown) the static level is 38.65 m as measured: below the 37 m control level.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from accounting_support import SHANGHAI, START, SimulatedFeed, site, stored

from gateway.accounting.service import AccountingRoom

HOUR = 3600.0
LEVEL = """
[[well.accounting.groundwater]]
device = "well-level"
sensor_depth_m = 80
wellhead_elevation_m = 1300.0
control_depth_m = 37.0
hysteresis_m = 0.5
static_settle_min = 20

[well.accounting.alarms.level]
raise_after_s = 1800
clear_after_s = 1800
"""


def ok_clock():
    return 1, "test clock"


def hours(t: float) -> float:
    return (t - START) / HOUR


def test_static_levels_cycles_and_the_control_level_follow_the_simulated_water_table(tmp_path):
    config = site(tmp_path, LEVEL)
    feed = SimulatedFeed(config)
    try:
        room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        feed.run(26 * HOUR, every=30, room=room)  # 1 June 00:00 → 2 June 02:00
        assert [r for r in stored(feed.state_dir, "alarm")] == []
        feed.well.set_params(static_depth_m=38.0)  # a dry season: at 26 h, the pump starting
        feed.run(6 * HOUR, every=30, room=room)
        feed.well.set_params(static_depth_m=30.0)  # the water table back, at 32 h
        feed.run(6 * HOUR, every=30, room=room)
        room.close()
        assert feed.sink.flush()
    finally:
        feed.close()
    readings = {r.seq: r for r in stored(feed.state_dir, "reading")
                if (r.device, r.point) == ("well-level", "level")}
    static = [r for r in stored(feed.state_dir, "groundwater") if r.point == "static"]
    # one record for 1 June, written when 2 June's first level reading came
    assert [r.data["date"] for r in static] == ["2025-06-01"]
    day = static[0]
    assert datetime.fromtimestamp(day.wall_time, SHANGHAI) == datetime(2025, 6, 2,
                                                                        tzinfo=SHANGHAI)
    # the day's most settled reading: 1770 s after a stop; depth = 80 m − the water column read
    assert day.data["pump_off_s"] == pytest.approx(1770.0, abs=31)
    assert day.value == pytest.approx(80.0 - readings[day.data["reading_seq"]].value)
    assert day.value == pytest.approx(30.77, abs=0.05)
    assert day.data["water_table_elevation_m"] == pytest.approx(1300.0 - day.value)
    assert day.data["below_control"] is False
    cycles = [r for r in stored(feed.state_dir, "groundwater") if r.point == "cycle"]
    # a cycle per pump run that ended: 38 h of runs starting on the hour
    assert len(cycles) == 38
    assert cycles[0].value is None and "no static level" in cycles[0].data["note"]
    normal = [c for c in cycles[1:] if hours(c.data["end"]) < 26]
    for cycle in normal:
        assert cycle.data["pumping_level_m"] == pytest.approx(35.49, abs=0.05)
        assert cycle.value == pytest.approx(4.72, abs=0.05)  # the drawdown
        assert cycle.value == pytest.approx(cycle.data["pumping_level_m"]
                                            - cycle.data["static_before_m"])
    # the control level: the first static reading below it is 20 min into the rest at 26.5 h
    # (26 h 50 min); the alarm is raised when that has held 30 min (about 27 h 20 min). The
    # water table is back at 32 h: the first static reading above 36.5 m at 32 h 50 min,
    # cleared 30 min later (about 33 h 20 min)
    alarms = [(r.point, r.device, r.value, hours(r.wall_time))
              for r in stored(feed.state_dir, "alarm")]
    assert [a[:3] for a in alarms] == [("level_below_control", "well-level", "raised"),
                                       ("level_below_control", "well-level", "cleared")]
    assert 27 + 20 / 60 - 0.02 < alarms[0][3] < 27 + 20 / 60 + 0.02
    assert 33 + 20 / 60 - 0.02 < alarms[1][3] < 33 + 20 / 60 + 0.02
    raised = stored(feed.state_dir, "alarm")[0]
    assert "static level 3" in raised.data["reason"] and "control level 37 m" in (
        raised.data["reason"])
    dry = [c for c in cycles if 27 < hours(c.data["end"]) < 32]
    assert all(c.data["static_before_m"] > 38.0 for c in dry)


def _groundwater_run(folder, restart_at_h: float | None) -> list[tuple]:
    folder.mkdir()
    config = site(folder, LEVEL)
    feed = SimulatedFeed(config)
    try:
        room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        if restart_at_h is not None:
            feed.run(restart_at_h * HOUR, every=60, room=room)
            room.close()  # a stop mid-rest: the watch's state is in the checkpoint
            room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        feed.run((25 - (restart_at_h or 0)) * HOUR, every=60, room=room)
        room.close()
        assert feed.sink.flush()
    finally:
        feed.close()
    # a reading's seq differs between the runs (the stop wrote records of its own): left out
    return [(r.point, r.value, r.wall_time, {k: v for k, v in r.data.items() if k != "reading_seq"})
            for r in stored(feed.state_dir, "groundwater")]


def test_a_restart_mid_rest_makes_the_same_groundwater_records(tmp_path):
    # 25 h read every minute; one run restarted 4 h 50 min in (20 min into a rest: its static
    # readings are being collected) must write exactly what the uninterrupted one writes
    once = _groundwater_run(tmp_path / "once", None)
    again = _groundwater_run(tmp_path / "again", 4 + 50 / 60)
    assert [r[0] for r in once].count("static") == 1 and len(once) == 1 + 25  # runs end at h:30
    assert again == once
