"""The engine's checks of use against the allocation and the year's plan (warnings, the cut-off),
plan commands, and the groundwater level's records: a part of AccountingEngine kept apart."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gateway.accounting.alarms import allocation_alarm
from gateway.accounting.drift import METER_FAULTS
from gateway.accounting.groundwater import LEVEL_ALARM
from gateway.accounting.health_rules import FAULT, NORMAL
from gateway.accounting.periods import METERED
from gateway.accounting.plan import to_base
from gateway.accounting.records import KIND_ALLOCATION, WELL_DEVICE, make
from gateway.accounting.water_plan import (
    PlanError,
    PlanUse,
    period_alarm,
    plan_from_data,
    reached,
    use_against_plan,
    year_alarm,
)
from gateway.readings import QUALITY_INVALID
from gateway.store.records import Record

if TYPE_CHECKING:
    from gateway.accounting.engine import AccountingEngine

log = logging.getLogger(__name__)

PUMP_BLOCKING = METER_FAULTS | {"drift"}  # no cut-off while one of these is raised


class UseChecks:
    """Mixed into AccountingEngine: everything here reads and writes the engine's state."""

    def _check_allocation(self: AccountingEngine, at_time: float,
                          open_interval: bool = False) -> None:
        """After an interval, or on each reading (with the open interval's count so far): the
        overshoot of a threshold or the cut-off is then at most one poll's pumping."""
        day = self.ledger.local_date(at_time)  # the year and month in the well's time zone
        year, source = day.year, self.plan.counting_source
        extra = 0.0
        if open_interval:
            extra = (self.interval.acc["volume"].amount if source == METERED
                     else sum(part.volume for part in self.interval.derived))
        used = self.ledger.year(year, source) + extra
        limit: tuple[float, str] | None = None
        if self.allocation is not None:
            self._allocation_records(year, used, at_time)
            limit = (self.allocation.params.annual_allocation_m3, "allocation")
        year_plan = self.plans.get(year)
        if year_plan is not None:
            by_month = {m: (self.ledger.month(year, m, source) or 0.0)
                        for m in year_plan.period_months(day.month)}
            by_month[day.month] += extra
            self._plan_alarms(use_against_plan(year_plan, day.month, used, by_month), at_time)
            limit = (year_plan.annual_m3, "water plan")
        else:
            self._plan_alarms(None, at_time)
        if self.pump is not None and limit is not None:
            blocking = sorted(key for key, latch in self.board.latches.items()
                              if latch.active and latch.alarm in PUMP_BLOCKING)
            self.outputs += self.pump.check(year, used, limit[0], at_time, blocking,
                                            clock_trusted=self.clock_trusted, what=limit[1])

    def _allocation_records(self: AccountingEngine, year: int, used: float,
                            at_time: float) -> None:
        """Each threshold of the allocation reached: a record once, and an alarm (the uplinks
        carry it), cleared when the use is below it again (a new year, a raised allocation)."""
        assert self.allocation is not None
        source = self.plan.counting_source
        for crossing in self.allocation.update(year, used, at_time):
            self.outputs.append(make(
                KIND_ALLOCATION, WELL_DEVICE, "threshold", crossing.threshold_percent, "%",
                at_time, {"year": crossing.year, "used_m3": crossing.used_m3,
                          "allocation_m3": crossing.allocation_m3, "source": source,
                          "threshold_percent": crossing.threshold_percent}))
            log.warning("allocation: %s%% of %s m³ reached in %s (%.1f m³, %s)",
                        crossing.threshold_percent, crossing.allocation_m3, crossing.year,
                        crossing.used_m3, source)
        allocation = self.allocation.params.annual_allocation_m3
        for percent in self.allocation.params.thresholds_percent:
            hit = used >= allocation * percent / 100
            reason = (f"{year}: {percent:g} % of the {allocation:g} m³ allocation "
                      f"{'reached' if hit else 'no longer reached'}: {used:.3f} m³ used "
                      f"({source})")
            self._condition(allocation_alarm(percent), hit, at_time, reason, year=year,
                            used_m3=used, allocation_m3=allocation, threshold_percent=percent)

    def _plan_alarms(self: AccountingEngine, use: PlanUse | None, at_time: float) -> None:
        """The year's and the period's warnings (none reached in a year without a plan)."""
        settings, data = self.plan.plans, (use.to_data() if use is not None else {})
        for percents, name, period, what in (
                (settings.thresholds_percent, year_alarm, False, "water plan"),
                (settings.period_thresholds_percent, period_alarm, True, "share")):
            for percent in percents:
                hit, reason = False, "no water plan for this year"
                if use is not None:
                    label, planned, used, over = use.figures(period)
                    hit = reached(used, planned, percent)
                    reason = (f"{label}: {percent:g} % of the {planned:g} m³ {what} "
                              f"{'reached' if hit else 'not reached'}: {used:.3f} m³ used, "
                              f"{over:.3f} m³ over plan")
                self._condition(name(percent), hit, at_time, reason, threshold_percent=percent,
                                **data)

    def _condition(self: AccountingEngine, name: str, fault: bool, at_time: float, reason: str,
                   **data: Any) -> None:
        decision = self.board.condition(name, WELL_DEVICE, FAULT if fault else NORMAL, at_time,
                                        reason)
        if decision is not None:
            self._alarm_record(decision.alarm, decision.action, at_time, decision.reason, **data)

    def _plan_command(self: AccountingEngine, record: Record) -> None:
        """A new year's plan (`wellgate plan set`, or a centre's command of the same form)."""
        try:
            year_plan = plan_from_data(record.data or {}, record.seq)
        except PlanError as error:
            log.error("water plan command %d is unusable: %s", record.seq, error)
            return
        self.plans.set(year_plan)
        self.checkpoint_due = True
        log.info("water plan %d: %g m³ (%s shares) from %s", year_plan.year,
                 year_plan.annual_m3, year_plan.period, year_plan.source)
        if self.last_time is not None:  # warnings and the cut-off follow the new plan now (at
            self._check_allocation(self.last_time)  # the data's time: a command's is not)

    def _groundwater(self: AccountingEngine, record: Record) -> None:
        """A level or a pump reading: static level by day, pumping cycles, the control level."""
        if not self.groundwater.watches or record.quality == QUALITY_INVALID:
            return
        value = record.value
        number = (to_base(float(value), record.unit or "")
                  if isinstance(value, int | float) and not isinstance(value, bool) else None)
        records, verdicts = self.groundwater.feed(record, number, number)
        self.outputs += records
        if records:
            self.checkpoint_due = True
        t = record.wall_time or 0.0
        for device, verdict in verdicts:
            decision = self.board.condition(LEVEL_ALARM, device, verdict.state, t,
                                            verdict.reason)
            if decision is not None:
                self._alarm_record(decision.alarm, decision.action, t, decision.reason)
