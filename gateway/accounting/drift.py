"""Drift exclusion: the times a meter fault keeps out of the derived-versus-metered comparison."""

from __future__ import annotations

from typing import Any

from gateway.accounting.alarms import OFFLINE, Window
from gateway.accounting.periods import DERIVED, METERED
from gateway.accounting.plan import AccountingPlan

# A meter known to be faulty during an interval: its volumes are kept out of the drift
# comparison (drift is for a coefficient that no longer fits, not for a broken meter).
METER_FAULTS = frozenset({"power_without_flow", "flow_without_power", "totaliser_backwards",
                          "totaliser_stuck", "meter_status", OFFLINE})
SOURCES = (METERED, DERIVED)


class DriftExclusion:
    """Time ranges [from, to] (to None: still faulty) kept out of the drift rule's series."""

    def __init__(self, plan: AccountingPlan, series: dict[str, Window],
                 ranges: dict[str, list[float | None]] | None = None) -> None:
        self.plan = plan
        self.series = {source: series[source] for source in SOURCES}  # the drift rule's windows
        self.ranges: dict[str, list[float | None]] = dict(ranges or {})

    def add_volume(self, source: Any, at_time: float, volume: float, seq: int) -> None:
        """Add one of our interval volumes to its drift series, unless a fault keeps it out."""
        if source in SOURCES and not self.excludes(at_time):
            self.series[source].add(at_time, volume, seq)

    def excludes(self, at_time: float) -> bool:
        """Whether a meter fault (begun or ongoing) covers this time."""
        return any(start <= at_time and (end is None or at_time <= end)
                   for start, end in self.ranges.values())

    def alarm(self, key: str, name: str, action: str, at_time: float) -> None:
        """A meter-health alarm (`name@device` key) was raised or cleared at this time."""
        if name not in METER_FAULTS:
            return
        if action == "raise":
            self._fault_raised(key, name, at_time)
        else:
            self._fault_cleared(key, at_time)

    def _fault_raised(self, key: str, name: str, at_time: float) -> None:
        """The volumes since the fault may have begun, and until it ends, are no evidence of a
        drifting coefficient: drop them from the series and keep the next ones out."""
        start = at_time - fault_lookback(self.plan, name)
        self.ranges[f"{key}#{at_time:.3f}"] = [start, None]
        for window in self.series.values():
            cut = next((i for i, (t, _) in enumerate(window.pairs) if t >= start),
                       len(window.pairs))
            del window.pairs[cut:], window.seqs[cut:]

    def _fault_cleared(self, key: str, at_time: float) -> None:
        for tag, span in self.ranges.items():
            if tag.startswith(key + "#") and span[1] is None:
                span[1] = at_time + self.plan.interval_s  # the interval it ends in is mixed

    def forget_before(self, now: float) -> None:
        """Drop the ranges that ended before the metered series' span reaches back."""
        oldest = now - self.series[METERED].span_s
        for tag in [t for t, (_, end) in self.ranges.items()
                    if end is not None and end < oldest]:
            del self.ranges[tag]

    def to_state(self) -> dict[str, list[float | None]]:
        """The checkpoint's "drift_excluded" entry."""
        return self.ranges


def fault_lookback(plan: AccountingPlan, name: str) -> float:
    """How long before its raise a fault of this alarm may have begun."""
    th: Any = {"power_without_flow": plan.power_flow, "flow_without_power": plan.power_flow,
               "totaliser_stuck": plan.stuck, "meter_status": plan.status,
               "totaliser_backwards": plan.backwards}.get(name)
    window = (th.window_s + th.raise_after_s) if th is not None else (
        plan.offline[0] if plan.offline else 0.0)
    return window + plan.evaluate_every_s + plan.interval_s
