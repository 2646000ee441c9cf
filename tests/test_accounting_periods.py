"""Local day/month/year totals in UTC+8 (a year end included) and allocation thresholds."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from gateway.accounting.periods import (
    DERIVED,
    METERED,
    AllocationParams,
    AllocationTracker,
    PeriodParams,
    PeriodTotals,
    local_zone,
    split_by_local_day,
)

UTC8 = timezone(timedelta(hours=8))  # Asia/Shanghai has had no daylight saving since 1991


def at(text: str) -> float:
    """Unix time of a local (UTC+8) wall-clock time written as 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC8).timestamp()


def test_shanghai_zone_is_available():
    zone = local_zone("Asia/Shanghai")
    assert datetime(2026, 7, 1, tzinfo=zone).utcoffset() == timedelta(hours=8)
    with pytest.raises(ValueError, match=r"time zone 'Mars/Olympus' not found .*tzdata"):
        PeriodParams("Mars/Olympus")


SPLITS = [
    # (start, end local, amount, expected (day, share)), hand-worked:
    ("2026-05-01 23:50", "2026-05-02 00:20", 3.0,
     # 10 of 30 minutes before midnight: 3 × 10/30 = 1, 3 × 20/30 = 2
     [(date(2026, 5, 1), 1.0), (date(2026, 5, 2), 2.0)]),
    ("2026-02-28 23:00", "2026-03-01 01:00", 10.0,
     # month end (2026 is not a leap year): one hour each side, 5 + 5
     [(date(2026, 2, 28), 5.0), (date(2026, 3, 1), 5.0)]),
    ("2026-12-31 23:59", "2027-01-01 00:02", 6.0,
     # year end: 1 of 3 minutes in 2026 → 2, 2 of 3 in 2027 → 4
     [(date(2026, 12, 31), 2.0), (date(2027, 1, 1), 4.0)]),
    ("2026-06-01 12:00", "2026-06-03 12:00", 48.0,
     # 12 h, 24 h, 12 h of 48 h → 12, 24, 12
     [(date(2026, 6, 1), 12.0), (date(2026, 6, 2), 24.0), (date(2026, 6, 3), 12.0)]),
    ("2026-06-01 08:00", "2026-06-02 00:00", 4.0,
     # ends exactly at local midnight: nothing on 06-02 (days are [00:00, 24:00))
     [(date(2026, 6, 1), 4.0)]),
    ("2026-06-02 00:00", "2026-06-02 00:00", 0.5,
     # an instant: all on its day
     [(date(2026, 6, 2), 0.5)]),
]


@pytest.mark.parametrize(("start", "end", "amount", "expected"), SPLITS)
def test_split_by_local_day(start, end, amount, expected):
    pieces = split_by_local_day(at(start), at(end), amount, local_zone("Asia/Shanghai"))
    assert [d for d, _ in pieces] == [d for d, _ in expected]
    assert [s for _, s in pieces] == pytest.approx([s for _, s in expected])
    assert sum(s for _, s in pieces) == amount  # exactly: the last piece takes the rounding


def test_year_end_totals_in_local_time_not_utc():
    # 2026-12-31 23:30 → 2027-01-01 00:30 in Shanghai is 15:30 → 16:30 UTC on 31 December: a UTC
    # day would put all of it in 2026.
    totals = PeriodTotals()
    totals.add(at("2026-12-31 23:30"), at("2027-01-01 00:30"), 10.0, METERED)  # 5 + 5
    totals.add(at("2026-12-31 22:00"), at("2027-01-01 02:00"), 8.0, DERIVED)  # 2 h each: 4 + 4
    assert totals.day(date(2026, 12, 31), METERED) == pytest.approx(5.0)
    assert totals.day(date(2027, 1, 1), METERED) == pytest.approx(5.0)
    assert totals.month(2026, 12, DERIVED) == pytest.approx(4.0)
    assert totals.month(2027, 1) == pytest.approx(9.0)  # 5 metered + 4 derived
    assert totals.year(2026) == pytest.approx(9.0)
    assert totals.year(2027, METERED) == pytest.approx(5.0)
    utc_day = datetime.fromtimestamp(at("2027-01-01 00:30"), UTC).date()
    assert utc_day == date(2026, 12, 31)


def test_totals_accumulate_and_survive_a_round_trip():
    totals = PeriodTotals()
    for hour in range(0, 24):  # 1.5 m³ an hour through 2026-03-10 local
        start = at("2026-03-10 00:00") + hour * 3600
        totals.add(start, start + 3600, 1.5, METERED)
    assert totals.day(date(2026, 3, 10)) == pytest.approx(36.0)  # 24 × 1.5
    assert totals.day(date(2026, 3, 11)) == 0.0
    again = PeriodTotals.from_state(totals.to_state())
    assert again.month(2026, 3, METERED) == pytest.approx(36.0)
    with pytest.raises(ValueError, match=r"source 'guessed' is not one of \('metered'"):
        totals.add(None, at("2026-03-12 00:00"), 1.0, "guessed")
    with pytest.raises(ValueError, match="before its start"):
        totals.add(at("2026-03-12 01:00"), at("2026-03-12 00:00"), 1.0, METERED)


def test_allocation_thresholds_fire_once_each():
    tracker = AllocationTracker(AllocationParams(annual_allocation_m3=10_000.0))
    assert tracker.update(2026, 7_999.0) == []
    crossed = tracker.update(2026, 8_000.0, at_time=1.0)  # 80 % of 10,000
    assert [(c.threshold_percent, c.used_m3) for c in crossed] == [(80.0, 8_000.0)]
    assert tracker.update(2026, 9_000.0) == []  # not again
    assert [c.threshold_percent for c in tracker.update(2026, 10_500.0)] == [100.0]
    assert tracker.update(2026, 11_000.0) == []
    assert tracker.used_percent(2026) == pytest.approx(110.0)
    # A new year starts with every threshold armed again.
    assert [c.threshold_percent for c in tracker.update(2027, 10_000.0)] == [80.0, 100.0]


def test_a_jump_past_both_thresholds_reports_both_and_state_persists():
    tracker = AllocationTracker(AllocationParams(5_000.0, (50.0, 80.0, 100.0)))
    assert [c.threshold_percent for c in tracker.update(2026, 4_200.0)] == [50.0, 80.0]
    resumed = AllocationTracker(tracker.params, tracker.to_state())
    assert resumed.update(2026, 4_300.0) == []
    assert [c.threshold_percent for c in resumed.update(2026, 5_000.0)] == [100.0]


def test_a_larger_allocation_rearms_the_thresholds_no_longer_reached():
    tracker = AllocationTracker(AllocationParams(10_000.0))
    tracker.update(2026, 10_000.0)  # 80 % and 100 % fired
    tracker.set_allocation(AllocationParams(12_000.0))  # 10,000 is 83 %: 100 % re-armed
    assert tracker.update(2026, 11_000.0) == []
    assert [c.threshold_percent for c in tracker.update(2026, 12_000.0)] == [100.0]
