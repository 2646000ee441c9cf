"""The calibration_due rule: the pumping head has left the calibrated heads, or k is too old.

Judged on the alarm grid from the series the room replays after a restart (depth to water and
pump power), so it is as deterministic as the other rules: the pumping head is the median, over
the window, of depth + outlet + friction at the level readings taken while the pump drew power.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from gateway.accounting.coefficient import CoefficientBook, HeadParameters
from gateway.accounting.health_rules import FAULT, HOLD, NORMAL, Series, Verdict, recent
from gateway.accounting.khead import calibrated_heads
from gateway.config.accounting import FIT

DAY_S = 86_400.0
CALIBRATION_DUE = "calibration_due"


@dataclass(frozen=True)
class RecalibrationThresholds:
    """When a new calibration is due."""

    retest_after_days: float | None
    retest_level_change_m: float | None
    extrapolation_margin_m: float
    running_power_kw: float  # the pump counts as running at or above this
    window_s: float
    raise_after_s: float
    clear_after_s: float


def calibration_due(depth: Series, power: Series, now: float, book: CoefficientBook,
                    plan: Any, head: HeadParameters, th: RecalibrationThresholds) -> Verdict:
    """FAULT with every reason a calibration is due now; HOLD when the head is unknown.

    `plan` is the AccountingPlan (its fit settings, standard k and head model). The heads are
    judged under the fit model only (other models have one calibration head, not a range)."""
    try:
        book.valid_at(now)
    except LookupError:
        if plan.standard is None:
            return Verdict(NORMAL, "no 以电折水 coefficient at all")
        return Verdict(FAULT, "no calibration yet: the well is on the standard coefficient")
    reasons = []
    calibrated = [c for c in book.versions
                  if c.valid_from <= now and c.calibration_head_m is not None]
    if th.retest_after_days is not None and calibrated:
        last = max(c.valid_from for c in calibrated)
        age = (now - last) / DAY_S
        if age > th.retest_after_days:
            reasons.append(f"the last calibration is {age:.0f} days old, a re-test is due "
                           f"after {th.retest_after_days:g}")
    span = calibrated_heads(book, now, plan.fit) if plan.head_model == FIT else None
    pumping = _running_head(depth, power, now, th, head) if span is not None else None
    if span is not None and pumping is not None:
        low, high = span
        beyond = max(low - pumping, pumping - high, 0.0)
        if beyond > th.extrapolation_margin_m:
            reasons.append(f"pumping head {pumping:.2f} m is {beyond:.2f} m beyond the "
                           f"calibrated heads {low:.2f}..{high:.2f} m (margin "
                           f"{th.extrapolation_margin_m:g} m): k is extrapolated")
        nearest = min(abs(pumping - h) for h in (c.calibration_head_m for c in calibrated)
                      if h is not None)
        if th.retest_level_change_m is not None and nearest > th.retest_level_change_m:
            reasons.append(f"pumping head {pumping:.2f} m is {nearest:.2f} m from every "
                           f"calibrated head (re-test after {th.retest_level_change_m:g} m)")
    if reasons:
        return Verdict(FAULT, "; ".join(reasons))
    if pumping is None and span is not None:
        return Verdict(HOLD, "the pump has not run in the window: head unknown")
    return Verdict(NORMAL, "calibration in force covers the pumping head")


def _running_head(depth: Series, power: Series, now: float, th: RecalibrationThresholds,
                  head: HeadParameters) -> float | None:
    """The median of depth + outlet + friction over the window's level readings taken while
    the latest power reading before them was at or above the running power."""
    powers = list(recent(power, now, th.window_s + 600))
    heads, i, latest = [], 0, None
    for t, depth_m in recent(depth, now, th.window_s):
        while i < len(powers) and powers[i][0] <= t:
            latest = powers[i][1]
            i += 1
        if latest is not None and latest >= th.running_power_kw:
            heads.append(depth_m + head.outlet_height_m + head.friction_head_m)
    return statistics.median(heads) if heads else None

