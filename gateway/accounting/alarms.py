"""Meter-health alarms in the accounting room: series windows, the core's rules, latches.

The series are a pure function of the store's records (never of when they were read), so a
restarted room that replays the window's records from the store judges exactly as one that never
stopped. Latches (raise/clear state) are part of the checkpoint; series are not (they are replayed).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gateway.accounting.coefficient import CoefficientBook
from gateway.accounting.groundwater import LEVEL_ALARM
from gateway.accounting.health_rules import (
    FAULT,
    HOLD,
    NORMAL,
    AlarmLatch,
    BackwardsThresholds,
    Decision,
    Verdict,
    derived_metered_drift,
    flow_without_power,
    meter_status,
    power_without_flow,
    totaliser_backwards,
    totaliser_stuck,
)
from gateway.accounting.plan import AccountingPlan, to_base
from gateway.accounting.recalibration import CALIBRATION_DUE, calibration_due
from gateway.accounting.records import GATEWAY_DEVICE, WELL_DEVICE
from gateway.accounting.water_plan import period_alarm, year_alarm

OFFLINE = "offline"
CLOCK = "clock_not_synchronised"
KEEP_RECENT = 20  # raise/clear pairs kept in the checkpoint for `wellgate alarms`


class Window:
    """(time, value) pairs of one series, oldest first, with the seq each came from."""

    def __init__(self, span_s: float, accumulate: bool = False) -> None:
        self.span_s = span_s
        self.accumulate = accumulate  # several amounts at one time add up (interval volumes)
        self.pairs: list[tuple[float, Any]] = []
        self.seqs: list[int] = []

    def add(self, t: float, value: Any, seq: int) -> None:
        """Append; a time not after the last one is dropped (or added to it, if accumulating)."""
        if self.pairs and t <= self.pairs[-1][0]:
            if self.accumulate and t == self.pairs[-1][0]:
                self.pairs[-1] = (t, self.pairs[-1][1] + value)
            return
        self.pairs.append((t, value))
        self.seqs.append(seq)

    def prune(self, now: float) -> None:
        cut = bisect_right(self.pairs, now - self.span_s, key=lambda pair: pair[0])
        if cut:
            del self.pairs[:cut]
            del self.seqs[:cut]

    def latest(self) -> tuple[float, Any] | None:
        return self.pairs[-1] if self.pairs else None


Rule = Callable[[float], Verdict]


def allocation_alarm(percent: float) -> str:
    """The alarm raised when the year's use reaches this share of the allocation."""
    return f"allocation_{percent:g}_percent"


class AlarmBoard:
    """Every alarm of one well: rule-driven ones judged on a time grid, condition-driven ones
    (offline, clock) judged on the records that report the condition."""

    def __init__(self, plan: AccountingPlan, windows: dict[str, Window],
                 state: dict[str, Any] | None = None,
                 book: CoefficientBook | None = None) -> None:
        self.plan = plan
        self.windows = windows
        self.book = book if book is not None else plan.book  # grows as calibrations arrive
        self.rules: dict[str, tuple[str, str, Rule]] = {}  # key → (alarm, device, rule)
        self.latches: dict[str, AlarmLatch] = {}
        self.conditions: dict[str, str] = {}  # condition alarm key → FAULT / NORMAL / HOLD
        self.reasons: dict[str, str] = {}
        self.raised_at: dict[str, float] = {}
        self.recent: list[dict[str, Any]] = []
        self._add_rules()
        state = state or {}
        for key, latch_state in state.get("latches", {}).items():
            if key in self.latches:
                latch = self.latches[key]
                self.latches[key] = AlarmLatch(latch.alarm, latch.raise_after_s,
                                               latch.clear_after_s, latch_state)
        self.conditions.update(state.get("conditions", {}))
        self.raised_at.update(state.get("raised_at", {}))
        self.reasons.update(state.get("reasons", {}))
        self.recent = list(state.get("recent", []))

    # -- building ---------------------------------------------------------------------------------
    def _latch(self, key: str, alarm: str, raise_after: float, clear_after: float) -> None:
        self.latches[key] = AlarmLatch(alarm, raise_after, clear_after)

    def _rule(self, alarm: str, device: str, th: Any, rule: Rule) -> None:
        key = f"{alarm}@{device}"
        self.rules[key] = (alarm, device, rule)
        self._latch(key, alarm, th.raise_after_s, th.clear_after_s)

    def _add_rules(self) -> None:
        plan, w = self.plan, self.windows
        if plan.power_flow is not None and plan.flow_device and plan.energy_device:
            pf = plan.power_flow
            self._rule("power_without_flow", plan.flow_device, pf, lambda now: power_without_flow(
                w["power"].pairs, w["flow"].pairs, now, pf))
            self._rule("flow_without_power", plan.energy_device, pf,
                       lambda now: flow_without_power(w["power"].pairs, w["flow"].pairs, now, pf))
        if plan.backwards is not None:
            for name, total in (("volume", plan.volume), ("energy", plan.energy)):
                if total is None:
                    continue
                th = self.backwards_for(name)
                self._rule("totaliser_backwards", total.device, th,
                           lambda now, n=name, t=th: totaliser_backwards(w[n].pairs, now, t))
        if plan.stuck is not None and plan.volume is not None:
            st = plan.stuck
            self._rule("totaliser_stuck", plan.volume.device, st, lambda now: totaliser_stuck(
                w["volume"].pairs, w["flow"].pairs, now, st))
        if plan.status is not None and plan.flow_device:
            ms = plan.status
            self._rule("meter_status", plan.flow_device, ms, lambda now: meter_status(
                w["pipe"].pairs, w["error"].pairs, now, ms))
        if plan.drift is not None and plan.energy is not None:
            dr = plan.drift
            self._rule("drift", plan.energy.device, dr, lambda now: derived_metered_drift(
                w["metered"].pairs, w["derived"].pairs, now, dr))
        for level in plan.groundwater:  # judged on static levels (groundwater.py)
            if level.control_depth_m is not None:
                self._latch(f"{LEVEL_ALARM}@{level.device}", LEVEL_ALARM, level.raise_after_s,
                            level.clear_after_s)
        rc = plan.recalibration
        if rc is not None and plan.head is not None and plan.energy is not None:
            head = plan.head
            self._rule(CALIBRATION_DUE, plan.energy.device, rc, lambda now: calibration_due(
                w["depth"].pairs, w["power"].pairs, now, self.book, plan, head, rc))
        if plan.offline is not None:
            for device in plan.devices:
                self._latch(f"{OFFLINE}@{device}", OFFLINE, *plan.offline)
        if plan.clock is not None:
            self._latch(f"{CLOCK}@{GATEWAY_DEVICE}", CLOCK, *plan.clock)
        if plan.allocation is not None:  # a warning before the cut, once a year each
            for percent in plan.allocation.thresholds_percent:
                name = allocation_alarm(percent)
                self._latch(f"{name}@{WELL_DEVICE}", name, 0.0, 0.0)
        for name in ([year_alarm(p) for p in plan.plans.thresholds_percent]
                     + [period_alarm(p) for p in plan.plans.period_thresholds_percent]):
            self._latch(f"{name}@{WELL_DEVICE}", name, 0.0, 0.0)  # plans may come any time
        control = plan.pump_control
        if control.enabled and not control.dry_run:
            self._latch(f"pump_not_stopped@{control.relay_device or 'well'}",
                        "pump_not_stopped", 0.0, 0.0)
            self._latch(f"pump_running_after_cutoff@{control.relay_device or 'well'}",
                        "pump_running_after_cutoff", 0.0, 0.0)

    def backwards_for(self, name: str) -> BackwardsThresholds:
        """The backwards thresholds of one totaliser, its wrap in base units (as the series)."""
        total = self.plan.volume if name == "volume" else self.plan.energy
        assert self.plan.backwards is not None and total is not None
        wrap = total.params.wrap_value
        count = total.params.count_resolution or total.params.jitter
        return replace(self.plan.backwards,
                       wrap_value=None if wrap is None else to_base(wrap, total.unit),
                       resolution=to_base(count, total.unit),
                       unit="m³" if name == "volume" else "kWh", time_zone=self.plan.time_zone)

    # -- judging ----------------------------------------------------------------------------------
    def condition(self, alarm: str, device: str, state: str, at_time: float,
                  reason: str) -> Decision | None:
        """A record reported a condition (a device offline, the clock unsynchronised)."""
        key = f"{alarm}@{device}"
        if key not in self.latches:
            return None
        self.conditions[key] = state
        self.reasons[key] = reason
        return self._update(key, Verdict(state, reason), at_time)

    def evaluate(self, now: float) -> list[Decision]:
        """Judge every rule at grid time `now` (conditions too, for their delays)."""
        decisions = []
        for key, (_, _, rule) in self.rules.items():
            decision = self._update(key, rule(now), now)
            if decision:
                decisions.append(decision)
        for key, state in self.conditions.items():
            decision = self._update(key, Verdict(state, self.reasons.get(key, "")), now)
            if decision:
                decisions.append(decision)
        return decisions

    def _update(self, key: str, verdict: Verdict, now: float) -> Decision | None:
        decision = self.latches[key].update(verdict, now)
        if decision is None:
            return None
        device = key.split("@", 1)[1]
        if decision.action == "raise":
            self.raised_at[key] = now
            self.reasons[key] = decision.reason
        else:
            raised = self.raised_at.pop(key, None)
            self.recent = [*self.recent, {"alarm": decision.alarm, "device": device,
                                          "raised": raised, "cleared": now,
                                          "reason": self.reasons.get(key, "")}][-KEEP_RECENT:]
        return Decision(key, decision.action, decision.at_time, decision.reason)

    def active(self) -> list[dict[str, Any]]:
        """The alarms raised now, with when and why."""
        return [{"alarm": latch.alarm, "device": key.split("@", 1)[1],
                 "raised": self.raised_at.get(key), "reason": self.reasons.get(key, "")}
                for key, latch in sorted(self.latches.items()) if latch.active]

    def is_active(self, alarm: str, device: str | None = None) -> bool:
        return any(latch.active for key, latch in self.latches.items()
                   if latch.alarm == alarm and (device is None or key.endswith("@" + device)))

    def to_state(self) -> dict[str, Any]:
        return {"latches": {key: latch.to_state() for key, latch in self.latches.items()},
                "conditions": self.conditions, "raised_at": self.raised_at,
                "reasons": {k: v for k, v in self.reasons.items() if k in self.raised_at
                            or k in self.conditions},
                "recent": self.recent}


__all__ = ["CLOCK", "FAULT", "HOLD", "NORMAL", "OFFLINE", "AlarmBoard", "Window"]
