"""The annual water plan (计划用水): one plan per local year, with monthly or quarterly shares.

A plan comes from the config ([[well.accounting.plan.years]]) or from a signed `command` record
(`installer` / `water_plan`, made by `wellgate plan set`; a centre command can carry the same
data, see `plan_from_data`). A command's plan replaces the config's for its year; a later
command replaces an earlier one. Use is judged against the year's plan and the current period's
share: `use_against_plan` gives what `wellgate totals` reports and the warnings judge.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

MONTH, QUARTER = "month", "quarter"
PERIODS = {MONTH: 12, QUARTER: 4}  # shares a year has
PLAN_POINT = "water_plan"  # the command record's point
ORIGINS = ("config", "installer", "platform")
SUM_TOLERANCE_M3 = 0.5  # the shares may miss the annual figure by rounding, no more
MAX_M3 = 1e9


class PlanError(ValueError):
    """A plan that cannot be used: says which field, the value given and what is allowed."""


@dataclass(frozen=True)
class YearPlan:
    """One local year's plan: the annual figure and its shares per month or quarter, in m³."""

    year: int
    annual_m3: float
    period: str
    shares_m3: tuple[float, ...]
    source: str
    origin: str = "config"
    seq: int | None = None  # the command record it came from (None: the config)

    def __post_init__(self) -> None:
        _check(isinstance(self.year, int) and 2000 <= self.year <= 2100, "year",
               self.year, "a year 2000..2100")
        _check(_number(self.annual_m3) and 0 < self.annual_m3 <= MAX_M3, "annual_m3",
               self.annual_m3, f"m³ per year, > 0 and <= {MAX_M3:g}")
        _check(self.period in PERIODS, "period", self.period, "'month' or 'quarter'")
        count = PERIODS[self.period]
        _check(len(self.shares_m3) == count and all(
            _number(s) and s >= 0 for s in self.shares_m3), "shares_m3", list(self.shares_m3),
            f"{count} shares (one per {self.period}), each m³ >= 0")
        total = sum(self.shares_m3)
        _check(abs(total - self.annual_m3) <= SUM_TOLERANCE_M3, "shares_m3",
               list(self.shares_m3), f"shares that add up to annual_m3 {self.annual_m3:g} "
               f"(they add up to {total:g}; allowed rounding ±{SUM_TOLERANCE_M3} m³)")
        _check(isinstance(self.source, str) and bool(self.source.strip()), "source",
               self.source, "where the plan comes from, e.g. \"banner water bureau plan 2027\"")
        _check(self.origin in ORIGINS, "origin", self.origin, " or ".join(map(repr, ORIGINS)))

    def period_index(self, month: int) -> int:
        """The share (0-based) that local month 1..12 falls in."""
        return month - 1 if self.period == MONTH else (month - 1) // 3

    def period_months(self, month: int) -> tuple[int, ...]:
        """The local months of the period holding `month`."""
        if self.period == MONTH:
            return (month,)
        first = 3 * self.period_index(month) + 1
        return (first, first + 1, first + 2)

    def period_label(self, month: int) -> str:
        """'2027-03' for a month, '2027-Q1' for a quarter."""
        if self.period == MONTH:
            return f"{self.year:04d}-{month:02d}"
        return f"{self.year:04d}-Q{self.period_index(month) + 1}"

    def to_data(self) -> dict[str, Any]:
        """The plan as a command's data (JSON): what `plan_from_data` takes back."""
        data = asdict(self)
        data["shares_m3"] = list(self.shares_m3)
        data.pop("seq")
        return data


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise PlanError(f"water plan {key} = {value!r}: expected {allowed}")


def even_shares(annual_m3: float, period: str) -> tuple[float, ...]:
    """The annual figure shared evenly (the last share takes the rounding to 0.001 m³)."""
    count = PERIODS.get(period, 0)
    if not count:
        raise PlanError(f"water plan period = {period!r}: expected 'month' or 'quarter'")
    share = round(annual_m3 / count, 3)
    return (*[share] * (count - 1), round(annual_m3 - share * (count - 1), 3))


def plan_from_data(data: Any, seq: int | None = None) -> YearPlan:
    """A plan from a command's data: {year, annual_m3, period, shares_m3, source, origin}.

    The same JSON object is what a centre command would carry (origin "platform"); anything
    missing or of the wrong type is a PlanError naming the key."""
    if not isinstance(data, dict):
        raise PlanError(f"water plan: expected an object with year, annual_m3, period, "
                        f"shares_m3, source; got {data!r}")
    missing = [k for k in ("year", "annual_m3", "period", "shares_m3", "source") if k not in data]
    if missing:
        raise PlanError(f"water plan: missing {', '.join(missing)}")
    shares = data["shares_m3"]
    _check(isinstance(shares, list | tuple), "shares_m3", shares, "a list of m³")
    return YearPlan(data["year"], data["annual_m3"], data["period"], tuple(shares),
                    data["source"], data.get("origin", "installer"), seq)


class PlanBook:
    """The plans by year: the config's, replaced by commands' (the newest command wins)."""

    def __init__(self, configured: tuple[YearPlan, ...] = (),
                 state: list[dict[str, Any]] | None = None) -> None:
        self.configured = {plan.year: plan for plan in configured}
        self.commanded: dict[int, YearPlan] = {}
        for entry in state or []:
            self.commanded[entry["year"]] = plan_from_data(entry, entry.get("seq"))

    def set(self, plan: YearPlan) -> None:
        self.commanded[plan.year] = plan

    def get(self, year: int) -> YearPlan | None:
        return self.commanded.get(year) or self.configured.get(year)

    def to_state(self) -> list[dict[str, Any]]:
        """The commands' plans (the config's come from the config again)."""
        return [{**plan.to_data(), "seq": plan.seq}
                for _, plan in sorted(self.commanded.items())]


@dataclass(frozen=True)
class PlanUse:
    """A year's and one period's use against the plan (over_*: the use beyond it, else 0)."""

    year: int
    annual_m3: float
    used_m3: float
    period: str  # its label, e.g. "2027-03" or "2027-Q1"
    period_m3: float
    period_used_m3: float

    @property
    def used_percent(self) -> float:
        return 100.0 * self.used_m3 / self.annual_m3

    @property
    def period_percent(self) -> float | None:
        """None for a period whose share is 0 (any use there is over plan)."""
        return 100.0 * self.period_used_m3 / self.period_m3 if self.period_m3 > 0 else None

    @property
    def over_m3(self) -> float:
        return max(0.0, self.used_m3 - self.annual_m3)

    @property
    def period_over_m3(self) -> float:
        return max(0.0, self.period_used_m3 - self.period_m3)

    def figures(self, period: bool) -> tuple[str, float, float, float]:
        """(label, plan, used, over plan) of the period, or of the year."""
        if period:
            return self.period, self.period_m3, self.period_used_m3, self.period_over_m3
        return str(self.year), self.annual_m3, self.used_m3, self.over_m3

    def to_data(self) -> dict[str, Any]:
        return {"year": self.year, "annual_m3": self.annual_m3, "used_m3": self.used_m3,
                "used_percent": self.used_percent, "over_m3": self.over_m3,
                "period": self.period, "period_m3": self.period_m3,
                "period_used_m3": self.period_used_m3, "period_percent": self.period_percent,
                "period_over_m3": self.period_over_m3}


def use_against_plan(plan: YearPlan, month: int, used_year_m3: float,
                     used_by_month: dict[int, float]) -> PlanUse:
    """The year's use and the use in the period holding local `month` against the plan."""
    months = plan.period_months(month)
    return PlanUse(plan.year, plan.annual_m3, used_year_m3, plan.period_label(month),
                   plan.shares_m3[plan.period_index(month)],
                   sum(used_by_month.get(m, 0.0) for m in months))


def reached(used_m3: float, plan_m3: float, percent: float) -> bool:
    """Whether use has reached `percent` of a plan figure (any use reaches a share of 0)."""
    if plan_m3 <= 0:
        return used_m3 > 0
    return used_m3 >= plan_m3 * percent / 100


@dataclass(frozen=True)
class PlanSettings:
    """The warnings' percentages (of the year's plan, of the period's share) and the config's
    plans."""

    thresholds_percent: tuple[float, ...] = (80.0, 100.0)
    period_thresholds_percent: tuple[float, ...] = (80.0, 100.0)
    years: tuple[YearPlan, ...] = ()


def year_alarm(percent: float) -> str:
    """The alarm raised when the year's use reaches this share of the year's plan."""
    return f"plan_year_{percent:g}_percent"


def period_alarm(percent: float) -> str:
    """The alarm raised when a month's or quarter's use reaches this share of its plan."""
    return f"plan_period_{percent:g}_percent"
