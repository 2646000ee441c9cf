"""The series windows the alarm rules judge, and which of a reading's values feeds which window."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.accounting.alarms import Window
from gateway.accounting.periods import DERIVED, METERED
from gateway.accounting.plan import AccountingPlan, Totaliser, to_base
from gateway.readings import QUALITY_INVALID
from gateway.store.records import Record


def series_windows(plan: AccountingPlan) -> dict[str, Window]:
    """One empty window per series, as far back as the plan's rules look (interval volumes of
    one time add up)."""
    return {name: Window(span, accumulate=name in (METERED, DERIVED))
            for name, span in plan.window_s().items()}


def feed_reading(plan: AccountingPlan, totals: Mapping[str, Totaliser],
                 windows: Mapping[str, Window], record: Record) -> None:
    """Add a committed reading's value to the series it belongs to (invalid ones to none)."""
    key, value, t = (record.device, record.point), record.value, record.wall_time
    assert t is not None
    if record.quality == QUALITY_INVALID or value is None:
        return
    number = float(value) if isinstance(value, int | float) else None
    unit = record.unit or ""
    for name, total in totals.items():
        if key == (total.device, total.point) and number is not None:
            windows[name].add(t, to_base(number, unit), record.seq)
    if number is not None and key == (plan.energy_device, "active_power"):
        windows["power"].add(t, to_base(number, unit), record.seq)
    if number is not None and key == (plan.flow_device, "flow_rate"):
        windows["flow"].add(t, to_base(number, unit), record.seq)
    if number is not None and key == (plan.level_device, "level") and plan.head:
        depth = plan.head.sensor_depth_m - to_base(number, unit)
        if depth >= 0:
            windows["depth"].add(t, depth, record.seq)
    if key == (plan.flow_device, "pipe_status"):
        windows["pipe"].add(t, value, record.seq)
    if key == (plan.flow_device, "error_code") and isinstance(value, int):
        windows["error"].add(t, value, record.seq)
