"""Meter-health rules over recent values, and a latch that turns them into raise/clear decisions.

Each rule looks at a window of (time s, value) pairs, oldest first, and says FAULT, NORMAL or
HOLD. HOLD means "cannot tell" (too few readings, pump stopped) or "between the raise and the clear
threshold": the alarm keeps its state. An AlarmLatch raises only after FAULT has held for
raise_after_s and clears only after NORMAL has held for clear_after_s, so that normal operation
(pump starts and stops, drawdown, one late poll) never flaps.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from gateway.accounting.periods import local_zone
from gateway.config import (
    BackwardsSection,
    DriftSection,
    PowerFlowSection,
    StatusSection,
    StuckSection,
)

# Each threshold a config can set defaults to the config schema's value (gateway.config.alarms).
_POWER_FLOW, _BACKWARDS, _STUCK = PowerFlowSection(), BackwardsSection(), StuckSection()
_STATUS, _DRIFT = StatusSection(), DriftSection()

FAULT, NORMAL, HOLD = "fault", "normal", "hold"
Series = Sequence[tuple[float, Any]]  # (time s, value), oldest first


@dataclass(frozen=True)
class Verdict:
    """What a rule sees now, and why."""

    state: str  # FAULT, NORMAL or HOLD
    reason: str


@dataclass(frozen=True)
class Decision:
    """An alarm to raise or clear, for the store's alarm record."""

    alarm: str
    action: str  # "raise" | "clear"
    at_time: float
    reason: str


def recent(series: Series, now: float, window_s: float) -> Sequence[tuple[float, Any]]:
    """The part of the series in (now − window_s, now]."""
    start = bisect_right(series, now - window_s, key=_time)
    return series[start : bisect_right(series, now, key=_time)]


def _time(pair: tuple[float, Any]) -> float:
    return pair[0]


@dataclass(frozen=True)
class PowerFlowThresholds:
    """Power without flow, and flow without power (pump energy meter vs flow meter)."""

    # pump counts as running at or above this
    running_power_kw: float = _POWER_FLOW.running_power_kw
    stopped_power_kw: float = _POWER_FLOW.stopped_power_kw  # and as stopped at or below this
    flowing_m3h: float = _POWER_FLOW.flowing_m3h  # water counts as moving at or above this
    no_flow_m3h: float = _POWER_FLOW.no_flow_m3h  # and as still at or below this
    window_s: float = _POWER_FLOW.window_s
    min_samples: int = _POWER_FLOW.min_samples
    raise_after_s: float = _POWER_FLOW.raise_after_s
    clear_after_s: float = _POWER_FLOW.clear_after_s


def power_without_flow(power_kw: Series, flow_m3h: Series, now: float,
                       th: PowerFlowThresholds) -> Verdict:
    """The pump draws power but the flow meter sees no water (dry running, meter, bypass)."""
    power, flow = _values(power_kw, now, th.window_s), _values(flow_m3h, now, th.window_s)
    if min(len(power), len(flow)) < th.min_samples:
        return Verdict(HOLD, "too few readings")
    if min(power) < th.running_power_kw:
        return Verdict(HOLD, "pump not running throughout the window")
    if max(flow) <= th.no_flow_m3h:
        return Verdict(FAULT, f"pump drew {statistics.fmean(power):.2f} kW for {th.window_s:g} s "
                              f"with flow at most {max(flow):g} m³/h")
    return Verdict(NORMAL, "flow with power") if min(flow) >= th.flowing_m3h else _band()


def flow_without_power(power_kw: Series, flow_m3h: Series, now: float,
                       th: PowerFlowThresholds) -> Verdict:
    """Water flows but the pump's energy meter sees no power (meter fault, other supply)."""
    power, flow = _values(power_kw, now, th.window_s), _values(flow_m3h, now, th.window_s)
    if min(len(power), len(flow)) < th.min_samples:
        return Verdict(HOLD, "too few readings")
    if min(flow) < th.flowing_m3h:
        return Verdict(HOLD, "no steady flow in the window")
    if max(power) <= th.stopped_power_kw:
        return Verdict(FAULT, f"flow {statistics.fmean(flow):.2f} m³/h for {th.window_s:g} s "
                              f"with power at most {max(power):g} kW")
    return Verdict(NORMAL, "power with flow") if min(power) >= th.running_power_kw else _band()


@dataclass(frozen=True)
class BackwardsThresholds:
    """A totaliser that goes down (other than a rollover)."""

    # a fall up to this (point's unit) is jitter, e.g. float rounding
    tolerance: float = _BACKWARDS.tolerance
    wrap_value: float | None = None  # as in counters.CounterParams
    near_wrap_fraction: float = 0.01
    window_s: float = _BACKWARDS.window_s  # a fall stays in view, and the alarm raised, this long
    raise_after_s: float = _BACKWARDS.raise_after_s
    clear_after_s: float = _BACKWARDS.clear_after_s
    # only for the reason's words: one count of the total (its unit), the unit, the well's zone
    resolution: float = 0.0
    unit: str = ""
    time_zone: str = "UTC"


def amount(value: float, resolution: float = 0.0, unit: str = "") -> str:
    """A value as its meter shows it: at its resolution (else 10 significant digits), with unit."""
    if resolution > 0:
        text = f"{value:.{max(0, math.ceil(-math.log10(resolution) - 1e-9))}f}"
    else:
        text = f"{value:.10g}"
    return f"{text} {unit}".rstrip()


def clock(at_time: float, time_zone: str) -> str:
    """A time as the well's clock shows it: 2026-12-07 08:46:23 +0800."""
    return datetime.fromtimestamp(at_time, local_zone(time_zone)).strftime("%Y-%m-%d %H:%M:%S %z")


def totaliser_backwards(total: Series, now: float, th: BackwardsThresholds) -> Verdict:
    """Any fall of the total in the window that is not a rollover at the wrap value."""
    window = recent(total, now, th.window_s)
    if len(window) < 2:
        return Verdict(HOLD, "too few readings")
    for (_, a), (t, b) in pairwise(window):
        if b < a - th.tolerance and not _rolled_over(a, b, th):
            return Verdict(FAULT, f"total fell from {amount(a, th.resolution)} to "
                                  f"{amount(b, th.resolution, th.unit)} at "
                                  f"{clock(t, th.time_zone)}")
    return Verdict(NORMAL, "total never fell")


def _rolled_over(old: float, new: float, th: BackwardsThresholds) -> bool:
    wrap = th.wrap_value
    return wrap is not None and old >= wrap * (1 - th.near_wrap_fraction) and (
        new <= wrap * th.near_wrap_fraction
    )


@dataclass(frozen=True)
class StuckThresholds:
    """A totaliser standing still while the flow rate says water moves."""

    flowing_m3h: float = _STUCK.flowing_m3h  # the rate must be at least this throughout the window
    # fault: the total rose by at most this × ∫flow dt
    stuck_fraction: float = _STUCK.stuck_fraction
    clear_fraction: float = _STUCK.clear_fraction  # normal: it rose by at least this × ∫flow dt
    resolution: float = 0.01  # one count of the total (m³)
    # judge only when ∫flow dt is at least this many counts
    min_expected_counts: float = _STUCK.min_expected_counts
    window_s: float = _STUCK.window_s
    raise_after_s: float = _STUCK.raise_after_s
    clear_after_s: float = _STUCK.clear_after_s


def totaliser_stuck(total_m3: Series, flow_m3h: Series, now: float,
                    th: StuckThresholds) -> Verdict:
    """The total's rise over the window against the volume the flow rate implies."""
    totals, flow = recent(total_m3, now, th.window_s), recent(flow_m3h, now, th.window_s)
    if len(totals) < 2 or len(flow) < 2:
        return Verdict(HOLD, "too few readings")
    if min(q for _, q in flow) < th.flowing_m3h:
        return Verdict(HOLD, "no steady flow in the window")
    (t0, first), (t1, last) = totals[0], totals[-1]
    inside = [(t, q) for t, q in flow if t0 <= t <= t1]
    expected = sum((qa + qb) / 2 * (tb - ta) / 3600 for (ta, qa), (tb, qb) in pairwise(inside))
    rise = last - first
    if expected < th.min_expected_counts * th.resolution or rise < 0:
        return Verdict(HOLD, "too little flow to judge, or the total fell")
    if rise <= th.stuck_fraction * expected:
        return Verdict(FAULT, f"total rose {amount(rise, th.resolution, 'm³')} while the flow "
                              "rate implies "
                              f"{expected:.3f} m³ in {t1 - t0:.0f} s")
    return Verdict(NORMAL, "total moves") if rise >= th.clear_fraction * expected else _band()


@dataclass(frozen=True)
class StatusThresholds:
    """The meter's own status: empty pipe, error-code bits."""

    empty_values: tuple[str, ...] = tuple(_STATUS.empty_values)  # pipe_status names meaning empty
    error_mask: int = _STATUS.error_mask  # error_code bits that count
    flag_names: Mapping[int, str] = field(default_factory=dict)  # bit → name, from the profile
    window_s: float = _STATUS.window_s  # a status older than this is stale: HOLD
    raise_after_s: float = _STATUS.raise_after_s
    clear_after_s: float = _STATUS.clear_after_s


def meter_status(pipe_status: Series, error_code: Series, now: float,
                 th: StatusThresholds) -> Verdict:
    """FAULT while the latest pipe status is empty or any counted error bit is set."""
    pipe, errors = recent(pipe_status, now, th.window_s), recent(error_code, now, th.window_s)
    if not pipe and not errors:
        return Verdict(HOLD, "no recent status")
    problems = []
    if pipe and pipe[-1][1] in th.empty_values:
        problems.append(f"pipe {pipe[-1][1]}")
    if errors and isinstance(errors[-1][1], int) and errors[-1][1] & th.error_mask:
        bits = errors[-1][1] & th.error_mask
        names = [th.flag_names.get(b, f"bit {b}") for b in range(32) if bits >> b & 1]
        problems.append("error " + ", ".join(names))
    return Verdict(FAULT, "; ".join(problems)) if problems else Verdict(NORMAL, "status good")


@dataclass(frozen=True)
class DriftThresholds:
    """Derived (以电折水) against metered volume over a window."""

    raise_fraction: float = _DRIFT.raise_fraction  # |derived − metered| / metered above this: fault
    clear_fraction: float = _DRIFT.clear_fraction  # below this: normal
    # judge only windows with at least this metered volume
    min_volume_m3: float = _DRIFT.min_volume_m3
    window_s: float = _DRIFT.window_s
    raise_after_s: float = _DRIFT.raise_after_s
    clear_after_s: float = _DRIFT.clear_after_s


def derived_metered_drift(metered_m3: Series, derived_m3: Series, now: float,
                          th: DriftThresholds) -> Verdict:
    """Sums of interval volumes (end time, m³) from both sources over the window."""
    metered = sum(_values(metered_m3, now, th.window_s))
    derived = sum(_values(derived_m3, now, th.window_s))
    if metered < th.min_volume_m3:
        return Verdict(HOLD, f"only {metered:.2f} m³ metered in the window")
    drift = (derived - metered) / metered
    if abs(drift) > th.raise_fraction:
        return Verdict(FAULT, f"derived {derived:.2f} m³ vs metered {metered:.2f} m³ "
                              f"({drift:+.1%}) over {th.window_s:g} s")
    return Verdict(NORMAL, f"drift {drift:+.1%}") if abs(drift) < th.clear_fraction else _band()


class AlarmLatch:
    """One alarm's state: raise after FAULT persists, clear after NORMAL persists."""

    def __init__(self, alarm: str, raise_after_s: float, clear_after_s: float,
                 state: dict[str, Any] | None = None) -> None:
        self.alarm, self.raise_after_s, self.clear_after_s = alarm, raise_after_s, clear_after_s
        state = state or {}
        self.active: bool = bool(state.get("active", False))
        self._since: float | None = state.get("since")  # when the opposite verdict began

    def update(self, verdict: Verdict, now: float) -> Decision | None:
        """Feed the rule's verdict at time now; a Decision when the alarm changes state."""
        wants_active = verdict.state == FAULT
        if verdict.state == HOLD or wants_active == self.active:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        wait = self.raise_after_s if wants_active else self.clear_after_s
        if now - self._since < wait:
            return None
        self.active, self._since = wants_active, None
        return Decision(self.alarm, "raise" if wants_active else "clear", now, verdict.reason)

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {"active": self.active, "since": self._since}


def _values(series: Series, now: float, window_s: float) -> list[float]:
    return [v for _, v in recent(series, now, window_s)]


def _band() -> Verdict:
    return Verdict(HOLD, "between the raise and clear thresholds")
