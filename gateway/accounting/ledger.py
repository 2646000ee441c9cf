"""Totals by local day, month and year and source, kept small enough for every checkpoint.

Days are kept for the current and the previous local month (of the newest amount added); older
days are folded into their month, and months older than the previous year into their year. So a
checkpoint stays a few kilobytes however long the gateway runs, and `wellgate totals` reads the
day/month/year figures from the newest checkpoint instead of scanning the store.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from gateway.accounting.periods import SOURCES, local_zone, split_by_local_day

STATE_VERSION = 1


class Ledger:
    """Amounts (m³, or kWh for "energy") per source and local period."""

    def __init__(self, time_zone: str, state: dict[str, Any] | None = None) -> None:
        self.time_zone = time_zone
        self._zone = local_zone(time_zone)
        self.days: dict[str, dict[str, float]] = {}  # source → "YYYY-MM-DD" → amount
        self.months: dict[str, dict[str, float]] = {}  # source → "YYYY-MM" → amount
        self.years: dict[str, dict[str, float]] = {}  # source → "YYYY" → amount
        self.latest: str | None = None  # the newest day any amount was added to
        if state is not None:
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"ledger state version {state.get('version')!r}, expected "
                                 f"{STATE_VERSION}")
            self.days, self.months = state["days"], state["months"]
            self.years, self.latest = state["years"], state["latest"]

    def add(self, start: float | None, end: float, amount: float, source: str) -> None:
        """Add an interval's amount, shared between the local days it spans by time."""
        if source not in (*SOURCES, "energy"):
            raise ValueError(f"source {source!r} is not one of {(*SOURCES, 'energy')}")
        for day, share in split_by_local_day(start, end, amount, self._zone):
            key = day.isoformat()
            if key[:7] < self._oldest_day_month():
                self._fold(source, key, share)
                continue
            by_day = self.days.setdefault(source, {})
            by_day[key] = by_day.get(key, 0.0) + share
            if self.latest is None or key > self.latest:
                self.latest = key
        self._compact()

    def _oldest_day_month(self) -> str:
        """The first month whose days are still kept: the month before the latest day's."""
        if self.latest is None:
            return "0000-00"
        year, month = int(self.latest[:4]), int(self.latest[5:7])
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        return f"{year:04d}-{month:02d}"

    def _fold(self, source: str, day: str, amount: float) -> None:
        """Put a day's amount into its month (or year, when the month is folded already)."""
        month, year = day[:7], day[:4]
        if int(year) < int(self._oldest_day_month()[:4]) - 1:
            by_year = self.years.setdefault(source, {})
            by_year[year] = by_year.get(year, 0.0) + amount
            return
        by_month = self.months.setdefault(source, {})
        by_month[month] = by_month.get(month, 0.0) + amount

    def _compact(self) -> None:
        oldest = self._oldest_day_month()
        for source, by_day in self.days.items():
            for day in [d for d in by_day if d[:7] < oldest]:
                self._fold(source, day, by_day.pop(day))
        keep_year = int(oldest[:4]) - 1
        for source, by_month in self.months.items():
            for month in [m for m in by_month if int(m[:4]) < keep_year]:
                by_year = self.years.setdefault(source, {})
                by_year[month[:4]] = by_year.get(month[:4], 0.0) + by_month.pop(month)

    def day(self, day: date, source: str) -> float | None:
        """The amount on one local day (None: that day is no longer kept)."""
        key = day.isoformat()
        if key[:7] < self._oldest_day_month():
            return None
        return self.days.get(source, {}).get(key, 0.0)

    def month(self, year: int, month: int, source: str) -> float | None:
        """The amount in one local month (None: folded into its year already)."""
        key = f"{year:04d}-{month:02d}"
        if str(year) in self.years.get(source, {}):
            return None
        days = sum(v for d, v in self.days.get(source, {}).items() if d.startswith(key + "-"))
        return days + self.months.get(source, {}).get(key, 0.0)

    def year(self, year: int, source: str) -> float:
        """The amount in one local calendar year."""
        key = f"{year:04d}"
        return (sum(v for d, v in self.days.get(source, {}).items() if d.startswith(key))
                + sum(v for m, v in self.months.get(source, {}).items() if m.startswith(key))
                + self.years.get(source, {}).get(key, 0.0))

    def local_date(self, at_time: float) -> date:
        return datetime.fromtimestamp(at_time, self._zone).date()

    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "days": self.days, "months": self.months,
                "years": self.years, "latest": self.latest}
