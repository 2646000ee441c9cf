"""Groundwater level: depth to water (埋深), the static level by day, and each pumping cycle.

A level transmitter hangs `sensor_depth_m` below the datum (the wellhead) and reads the water
column above itself, so depth to water = sensor depth − water column, and the water table's
elevation = wellhead elevation − depth. A reading taken after the pump has been off for
`settle_s` is a static level; the day's static level record is its most settled one (taken
longest after the pump stopped). Each pumping cycle (pump start to stop) gives a record of its
pumping level (the last depth before the stop) and its drawdown (that depth − the static level
before the start). The control level (水位控制指标) is judged on static levels only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.accounting.health_rules import FAULT, HOLD, NORMAL, Verdict
from gateway.accounting.records import KIND_GROUNDWATER
from gateway.store.records import NewRecord, Record

STATIC, CYCLE = "static", "cycle"
LEVEL_ALARM = "level_below_control"


@dataclass(frozen=True)
class LevelSettings:
    """One level transmitter's geometry, control level and static-level rule."""

    device: str
    sensor_depth_m: float
    wellhead_elevation_m: float | None = None
    control_depth_m: float | None = None
    hysteresis_m: float = 0.5
    settle_s: float = 1200.0
    raise_after_s: float = 3600.0  # the control-level alarm's latch ([alarms.level])
    clear_after_s: float = 3600.0

    def depth(self, water_column_m: float) -> float:
        """Depth to water below the datum from the water column over the transmitter (to the
        µm: no float noise in the records)."""
        return round(self.sensor_depth_m - water_column_m, 6)

    def elevation(self, depth_m: float) -> float | None:
        """The water table's elevation (None without the wellhead's)."""
        if self.wellhead_elevation_m is None:
            return None
        return round(self.wellhead_elevation_m - depth_m, 6)

    def judge(self, depth_m: float) -> Verdict:
        """A static level against the control level, with the clearing band."""
        control = self.control_depth_m
        assert control is not None
        if depth_m > control:
            return Verdict(FAULT, f"static level {depth_m:.2f} m deep, control level "
                                  f"{control:g} m")
        if depth_m < control - self.hysteresis_m:
            return Verdict(NORMAL, f"static level {depth_m:.2f} m, above the control level "
                                   f"{control:g} m")
        return Verdict(HOLD, f"static level {depth_m:.2f} m within {self.hysteresis_m:g} m of "
                             f"the control level")


class PumpState:
    """Whether the pump runs, and since when, from the power (or flow) readings."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.running: bool | None = state.get("running")
        self.since: float | None = state.get("since")

    def note(self, t: float, running: bool) -> bool:
        """A reading saying whether the pump runs; True when that is news (a change, or the
        first reading: a stop then is counted from it, a start opens a cycle without a static
        level before it)."""
        if running == self.running:
            return False
        self.running, self.since = running, t
        return True

    def off_for(self, t: float) -> float | None:
        """Seconds the pump has been off at t (None: running or not known)."""
        if self.running is not False or self.since is None:
            return None
        return t - self.since

    def to_state(self) -> dict[str, Any]:
        return {"running": self.running, "since": self.since}


class LevelWatch:
    """One transmitter's static level by local day and its pumping cycles."""

    def __init__(self, settings: LevelSettings, zone: ZoneInfo,
                 state: dict[str, Any] | None = None) -> None:
        self.settings, self.zone = settings, zone
        state = state or {}
        self.day: str | None = state.get("day")
        self.best: dict[str, Any] | None = state.get("best")  # the day's most settled reading
        self.static: dict[str, Any] | None = state.get("static")  # the latest static reading
        self.cycle: dict[str, Any] | None = state.get("cycle")  # the pumping cycle going on

    def reading(self, t: float, water_column_m: float, pump: PumpState,
                seq: int) -> tuple[list[NewRecord], Verdict | None]:
        """A level reading: the day's record when a day has ended, a verdict when static."""
        out = self._roll_day(t)
        depth = self.settings.depth(water_column_m)
        off_for = pump.off_for(t)
        if pump.running and self.cycle is not None:
            self.cycle.update(last=depth, last_at=t, readings=self.cycle["readings"] + 1,
                              deepest=max(self.cycle["deepest"] or depth, depth))
        if off_for is None or off_for < self.settings.settle_s:
            return out, None
        self.static = {"depth": depth, "at": t, "seq": seq, "off_s": off_for}
        if self.best is None or off_for >= self.best["off_s"]:
            self.best = {**self.static, "readings": (self.best or {}).get("readings", 0) + 1}
        else:
            self.best["readings"] += 1
        verdict = self.settings.judge(depth) if self.settings.control_depth_m is not None else None
        return out, verdict

    def pump_changed(self, t: float, running: bool) -> list[NewRecord]:
        """The pump started (a cycle begins) or stopped (the cycle's record)."""
        if running:
            self.cycle = {"start": t, "static_before": self.static, "deepest": None,
                          "last": None, "last_at": None, "readings": 0}
            return []
        cycle, self.cycle = self.cycle, None
        if cycle is None or cycle["last"] is None:
            return []
        before = cycle["static_before"]
        drawdown = None if before is None else round(cycle["last"] - before["depth"], 6)
        s = self.settings
        return [_record(self.settings.device, CYCLE, drawdown, t, {
            "start": cycle["start"], "end": t, "pumping_level_m": cycle["last"],
            "pumping_level_at": cycle["last_at"], "deepest_m": cycle["deepest"],
            "static_before_m": None if before is None else before["depth"],
            "static_before_at": None if before is None else before["at"],
            "drawdown_m": drawdown, "readings": cycle["readings"],
            "pumping_elevation_m": s.elevation(cycle["last"]),
            "note": "" if before is not None else "no static level before this cycle: no "
            "drawdown"})]

    def _roll_day(self, t: float) -> list[NewRecord]:
        today = datetime.fromtimestamp(t, self.zone).date().isoformat()
        if self.day is None or today <= self.day:
            self.day = self.day or today
            return []
        ended, best = date.fromisoformat(self.day), self.best
        self.day, self.best = today, None
        if best is None:
            return []
        end = datetime.combine(ended + timedelta(days=1), time(0), tzinfo=self.zone).timestamp()
        s = self.settings
        return [_record(s.device, STATIC, best["depth"], end, {
            "date": ended.isoformat(), "at": best["at"], "reading_seq": best["seq"],
            "depth_to_water_m": best["depth"], "water_table_elevation_m": s.elevation(
                best["depth"]), "pump_off_s": best["off_s"], "static_readings": best["readings"],
            "sensor_depth_m": s.sensor_depth_m, "wellhead_elevation_m": s.wellhead_elevation_m,
            "control_depth_m": s.control_depth_m,
            "below_control": (None if s.control_depth_m is None
                              else best["depth"] > s.control_depth_m)})]

    def to_state(self) -> dict[str, Any]:
        return {"day": self.day, "best": self.best, "static": self.static, "cycle": self.cycle}


def _record(device: str, point: str, value: float | None, at_time: float,
            data: dict[str, Any]) -> NewRecord:
    return NewRecord.make(KIND_GROUNDWATER, device, point, value, "m", wall_time=at_time,
                          mono_time=0.0, data=data)


class Groundwater:
    """Every level transmitter of the well and the pump's state they share."""

    def __init__(self, settings: tuple[LevelSettings, ...], zone: ZoneInfo,
                 pump_key: tuple[str | None, str], running_above: float,
                 state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.pump = PumpState(state.get("pump"))
        self.pump_key, self.running_above = pump_key, running_above
        watches = state.get("watches", {})
        self.watches = {s.device: LevelWatch(s, zone, watches.get(s.device)) for s in settings}

    def feed(self, record: Record, level_m: float | None,
             running_m: float | None) -> tuple[list[NewRecord], list[tuple[str, Verdict]]]:
        """A reading (its value in base units: m for a level, kW or m³/h for the pump)."""
        t = record.wall_time or 0.0
        out: list[NewRecord] = []
        verdicts: list[tuple[str, Verdict]] = []
        if running_m is not None and (record.device, record.point) == self.pump_key:
            running = running_m >= self.running_above
            if self.pump.note(t, running):
                for watch in self.watches.values():
                    out += watch.pump_changed(t, running)
        watch = self.watches.get(record.device or "")
        if watch is not None and record.point == "level" and level_m is not None:
            records, verdict = watch.reading(t, level_m, self.pump, record.seq)
            out += records
            if verdict is not None:
                verdicts.append((watch.settings.device, verdict))
        return out, verdicts

    def to_state(self) -> dict[str, Any]:
        return {"pump": self.pump.to_state(),
                "watches": {name: w.to_state() for name, w in self.watches.items()}}
