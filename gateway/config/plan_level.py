"""The [well.accounting.plan] table (计划用水 per year) and [[well.accounting.groundwater]] (the
level sensor's depths, the control level, the static level's settling time), with their rules."""

import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from pydantic import Field

from gateway.config.fields import Section, bounded
from gateway.errors import Loc, Problem, bounds_text, one_of

PlanPeriod = Literal["month", "quarter"]
PLAN_PERIODS: tuple[str, ...] = typing.get_args(PlanPeriod)
SHARES = {"month": 12, "quarter": 4}
PERCENT = {"gt": 0, "le": 1000}
SUM_TOLERANCE_M3 = 0.5  # as gateway/accounting/water_plan.py


class PlanYearEntry(Section):
    """One local year's water plan as the bureau issued it."""

    year: int = bounded("a calendar year in the well's time zone", ge=2000, le=2100, sep=" ")
    annual_m3: float = bounded("the year's planned use, m³", gt=0, le=1e9, sep=" ")
    period: PlanPeriod = Field(default="month", description=one_of(PLAN_PERIODS)
                               + " (the shares are per month or per quarter)")
    shares_m3: list[Annotated[float, Field(ge=0, le=1e9)]] | None = Field(
        default=None, description="12 monthly or 4 quarterly shares in m³ that add up to "
        "annual_m3 (none: even shares)")
    source: str = Field(min_length=1, description='where the plan comes from, e.g. "banner '
                        'water bureau plan 2027-04"')


class PlanSection(Section):
    """The annual water plan (计划用水): warnings at shares of the year's and the period's plan."""

    thresholds_percent: list[Annotated[float, Field(**PERCENT)]] = Field(
        default=[80.0, 100.0], min_length=1,
        description=f"percentages of the year's plan that warn, each {bounds_text(**PERCENT)}")
    period_thresholds_percent: list[Annotated[float, Field(**PERCENT)]] = Field(
        default=[80.0, 100.0],
        description="percentages of the month's or quarter's share that warn, each "
        f"{bounds_text(**PERCENT)} ([] : none)")
    years: list[PlanYearEntry] = Field(
        default=[], description="a list of [[well.accounting.plan.years]] tables "
        "(more years come by `wellgate plan set`)")


class GroundwaterEntry(Section):
    """One level transmitter: where it hangs, the wellhead, the control level, the static level."""

    device: str | None = Field(default=None, min_length=1, description="the level device (none: "
                               "[well.accounting] level_sensor, or the first level device)")
    sensor_depth_m: float | None = bounded(
        "depth of the transmitter below the datum (the wellhead), metres (none: "
        "[well.accounting.head] sensor_depth_m)", None, gt=0, le=2000, sep=" ")
    wellhead_elevation_m: float | None = bounded(
        "elevation of the datum above sea level, metres (none: no water-table elevation)",
        None, ge=-500, le=9000, sep=" ")
    control_depth_m: float | None = bounded(
        "the control level (水位控制指标) as depth to water below the datum, metres (none: no "
        "alarm)", None, gt=0, le=2000, sep=" ")
    hysteresis_m: float = bounded("clear only this much shallower again, metres", 0.5, ge=0,
                                  le=100, sep=" ")
    static_settle_min: float = bounded(
        "minutes the pump must have been off before a reading is the static level", 20.0,
        ge=1, le=1440, sep=" ")


def plan_years_agree(plan: PlanSection | None) -> Iterator[Problem]:
    """Each year once; its shares one per period, adding up to the annual figure."""
    if plan is None:
        return
    first: dict[int, int] = {}
    for index, entry in enumerate(plan.years):
        loc: Loc = ("well", "accounting", "plan", "years", index)
        if entry.year in first:
            yield Problem((*loc, "year"), "a year not already planned by "
                          f"years[{first[entry.year]}]",
                          entry.year)
        first.setdefault(entry.year, index)
        if entry.shares_m3 is None:
            continue
        count = SHARES[entry.period]
        if len(entry.shares_m3) != count:
            yield Problem((*loc, "shares_m3"), f"{count} shares, one per {entry.period} "
                          f"(period = {entry.period!r}); {len(entry.shares_m3)} given",
                          entry.shares_m3)
        elif abs(sum(entry.shares_m3) - entry.annual_m3) > SUM_TOLERANCE_M3:
            yield Problem((*loc, "shares_m3"), f"shares adding up to annual_m3 "
                          f"{entry.annual_m3:g} (±{SUM_TOLERANCE_M3}); they add up to "
                          f"{sum(entry.shares_m3):g}", entry.shares_m3)


def groundwater_agrees(accounting: Any, devices: dict[str, Any],
                       points_of: Callable[[str], list[str] | None]) -> Iterator[Problem]:
    """Each entry names a level device once, knows its sensor depth, and its control level lies
    above the sensor (deeper than the sensor the transmitter cannot see the water)."""
    seen: dict[str | None, int] = {}
    for index, entry in enumerate(accounting.groundwater):
        loc: Loc = ("well", "accounting", "groundwater", index)
        if entry.device is not None and entry.device not in devices:
            yield Problem((*loc, "device"), f"the name of a device: {', '.join(sorted(devices))}",
                          entry.device)
        elif entry.device is not None and "level" not in (points_of(entry.device) or ["level"]):
            yield Problem((*loc, "device"), f"a device that reads level ({entry.device!r} does "
                          "not)", entry.device)
        if entry.device in seen:
            yield Problem((*loc, "device"), f"a device not already in groundwater"
                          f"[{seen[entry.device]}]", entry.device or "(the level sensor)")
        seen.setdefault(entry.device, index)
        depth = entry.sensor_depth_m or (accounting.head.sensor_depth_m
                                         if accounting.head is not None else None)
        if depth is None:
            yield Problem((*loc, "sensor_depth_m"), "the transmitter's depth below the datum "
                          "(or a [well.accounting.head] table with sensor_depth_m)")
        elif entry.control_depth_m is not None and entry.control_depth_m >= depth:
            yield Problem((*loc, "control_depth_m"), f"less than the sensor's depth {depth:g} m "
                          "(water below the transmitter cannot be measured)",
                          entry.control_depth_m)
