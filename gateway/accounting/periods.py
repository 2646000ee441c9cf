"""Day, month and year totals in local time by source, and allocation thresholds crossed once."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

METERED = "metered"  # from a flow meter's totaliser
DERIVED = "derived"  # 以电折水: from energy × coefficient
SOURCES = (METERED, DERIVED)
DEFAULT_TIME_ZONE = "Asia/Shanghai"  # UTC+8, no daylight saving
STATE_VERSION = 1


def local_zone(name: str) -> ZoneInfo:
    """The named IANA time zone, or an error that says how to get the database."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"time zone {name!r} not found (an IANA name such as {DEFAULT_TIME_ZONE!r}; systems "
            "without /usr/share/zoneinfo need the tzdata package)"
        ) from error


@dataclass(frozen=True)
class PeriodParams:
    """Where the well's days begin."""

    time_zone: str = DEFAULT_TIME_ZONE

    def __post_init__(self) -> None:
        local_zone(self.time_zone)


def local_bucket(at_time: float, interval_s: float, zone: ZoneInfo) -> int:
    """The number of the interval holding `at_time`, counted in local time, so that intervals
    (a divisor of a day) end on local midnights and local quarter hours, not UTC ones."""
    offset = datetime.fromtimestamp(at_time, zone).utcoffset()
    return int((at_time + (offset.total_seconds() if offset else 0.0)) // interval_s)


def split_by_local_day(
    start: float | None, end: float, amount: float, zone: ZoneInfo
) -> list[tuple[date, float]]:
    """Share an interval's amount between the local days it spans, in proportion to time."""
    if start is None or start == end:  # a first reading or an instant: all on the end's day
        return [(datetime.fromtimestamp(end, zone).date(), amount)]
    if end < start:
        raise ValueError(f"interval ends at {end}, before its start {start}")
    pieces: list[tuple[date, float]] = []
    cursor, given = start, 0.0
    while cursor < end:
        day = datetime.fromtimestamp(cursor, zone).date()
        midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).timestamp()
        piece_end = min(midnight, end)
        share = amount * (piece_end - cursor) / (end - start)
        if piece_end == end:
            share = amount - given  # the last piece takes the rounding: pieces sum to amount
        pieces.append((day, share))
        given += share
        cursor = piece_end
    return pieces


@dataclass
class PeriodTotals:
    """Running totals per local day and source; months and years are sums of their days."""

    params: PeriodParams = field(default_factory=PeriodParams)
    days: dict[str, dict[str, float]] = field(default_factory=dict)  # source → ISO day → amount

    def add(
        self, start: float | None, end: float, amount: float, source: str
    ) -> list[tuple[date, float]]:
        """Add one interval's amount (m³) for a source; returns how it was split by day."""
        if source not in SOURCES:
            raise ValueError(f"source {source!r} is not one of {SOURCES}")
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"amount must be >= 0, got {amount}")
        pieces = split_by_local_day(start, end, amount, local_zone(self.params.time_zone))
        by_day = self.days.setdefault(source, {})
        for day, share in pieces:
            by_day[day.isoformat()] = by_day.get(day.isoformat(), 0.0) + share
        return pieces

    def _sum(self, prefix: str, source: str | None) -> float:
        sources = SOURCES if source is None else (source,)
        return sum(
            amount
            for s in sources
            for day, amount in self.days.get(s, {}).items()
            if day.startswith(prefix)
        )

    def day(self, day: date, source: str | None = None) -> float:
        """Total on one local day (all sources when source is None)."""
        return self._sum(day.isoformat(), source)

    def month(self, year: int, month: int, source: str | None = None) -> float:
        """Total in one local calendar month."""
        return self._sum(f"{year:04d}-{month:02d}-", source)

    def year(self, year: int, source: str | None = None) -> float:
        """Total in one local calendar year."""
        return self._sum(f"{year:04d}-", source)

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {"version": STATE_VERSION, "time_zone": self.params.time_zone, "days": self.days}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PeriodTotals:
        """Totals from to_state()'s output."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"totals state version {state.get('version')!r}, expected 1")
        days = {source: dict(by_day) for source, by_day in state["days"].items()}
        return cls(PeriodParams(state["time_zone"]), days)


@dataclass(frozen=True)
class AllocationParams:
    """A well's annual allocation (取用水总量控制指标) and the warning thresholds."""

    annual_allocation_m3: float
    thresholds_percent: tuple[float, ...] = (80.0, 100.0)

    def __post_init__(self) -> None:
        if not self.annual_allocation_m3 > 0:
            raise ValueError(f"annual_allocation_m3 must be > 0, got {self.annual_allocation_m3}")
        if not self.thresholds_percent or any(not t > 0 for t in self.thresholds_percent):
            raise ValueError(f"thresholds_percent must be > 0, got {self.thresholds_percent}")


@dataclass(frozen=True)
class ThresholdCrossing:
    """Use reached a threshold of the allocation: reported once per year and allocation."""

    year: int
    threshold_percent: float
    used_m3: float
    allocation_m3: float
    at_time: float | None


class AllocationTracker:
    """Reports each threshold once per year; a new allocation re-arms those no longer reached."""

    def __init__(self, params: AllocationParams, state: dict[str, Any] | None = None) -> None:
        self.params = params
        self._fired: dict[int, set[float]] = {}
        self._used: dict[int, float] = {}
        if state is not None:
            self._fired = {int(y): set(ts) for y, ts in state["fired"].items()}
            self._used = {int(y): float(u) for y, u in state["used"].items()}

    def update(
        self, year: int, used_m3: float, at_time: float | None = None
    ) -> list[ThresholdCrossing]:
        """The thresholds newly reached by this year's use so far."""
        self._used[year] = used_m3
        fired = self._fired.setdefault(year, set())
        allocation = self.params.annual_allocation_m3
        crossings = []
        for threshold in sorted(self.params.thresholds_percent):
            if threshold not in fired and used_m3 >= allocation * threshold / 100:
                fired.add(threshold)
                crossings.append(ThresholdCrossing(year, threshold, used_m3, allocation, at_time))
        return crossings

    def set_allocation(self, params: AllocationParams) -> None:
        """A new allocation: thresholds the use no longer reaches may fire again."""
        self.params = params
        for year, fired in self._fired.items():
            used = self._used.get(year, 0.0)
            allocation = params.annual_allocation_m3
            fired.intersection_update(
                t for t in params.thresholds_percent if used >= allocation * t / 100
            )

    def used_percent(self, year: int) -> float:
        """This year's use so far as a percentage of the allocation."""
        return 100.0 * self._used.get(year, 0.0) / self.params.annual_allocation_m3

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able state (the params come from the config)."""
        return {
            "fired": {str(y): sorted(ts) for y, ts in self._fired.items()},
            "used": {str(y): u for y, u in self._used.items()},
        }
