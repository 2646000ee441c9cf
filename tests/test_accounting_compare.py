"""Metered and derived (以电折水) compared over the same closed intervals (issue 11 item 8)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from accounting_support import SHANGHAI
from test_accounting_time import Feed

from gateway.accounting.report import totals_data, view_from_state

K = 4.72  # the site's coefficient, m³/kWh (no level readings: not head-corrected)


def phased_run(tmp_path) -> Feed:
    """36 m³/h (3 m³ per 5 min) and the energy 以电折水 turns into exactly that (36 / 4.72 kWh/h).
    The flow meter is read 5 s before each 5 minutes, the energy meter 5 s after, from 19:59:55
    and 20:00:05 to 21:59:55 and 22:00:05 on 1 June; intervals of 900 s. The flow meter's
    reading at 21:59:55 closes with the 21:45 interval, the energy meter's at 22:00:05 opens the
    next one, so the closed intervals hold:
      metered 19:59:55 → 21:59:55 = 120 min = 72 m³;  derived 20:00:05 → 21:55:05 = 115 min = 69 m³
    The ledger's day compares them as −4.2 %. Over the same stretch (20:00:05 → 21:55:05) both
    are 69 m³: 0.0 %."""
    feed = Feed(tmp_path, interval=900)
    start = datetime(2025, 6, 1, 20, tzinfo=SHANGHAI).timestamp()
    mono, energy = 1000.0, 500.0
    for step in range(25):
        t = start + 300 * step
        feed.reading(t - 5, mono + 300 * step - 5, 0.0 if step == 0 else 3.0)
        energy += 0.0 if step == 0 else 3.0 / K
        feed.record("reading", "pump-energy", "import_energy", energy, t + 5,
                    mono + 300 * step + 5, {"kind": "total"}, unit="kWh")
    return feed


def test_metered_and_derived_are_compared_over_the_same_stretch(tmp_path):
    feed = phased_run(tmp_path)
    day = date(2025, 6, 1)
    ledger = feed.engine.ledger
    assert ledger.day(day, "metered") == pytest.approx(72.0)
    assert ledger.day(day, "derived") == pytest.approx(69.0)  # each closed interval as it is
    compared = feed.engine.interval.comparison.ledger
    assert compared.day(day, "metered") == pytest.approx(69.0)
    assert compared.day(day, "derived") == pytest.approx(69.0)
    # the drift rule's series: the same stretches, the same end times, equal sums
    windows = feed.engine.windows
    assert [t for t, _ in windows["metered"].pairs] == [t for t, _ in windows["derived"].pairs]
    assert sum(v for _, v in windows["metered"].pairs) == pytest.approx(69.0)
    assert sum(v for _, v in windows["derived"].pairs) == pytest.approx(69.0)
    # `wellgate totals`: the derived-metered column is over the same stretch
    view = view_from_state(feed.seq, feed.engine.to_state(), "Asia/Shanghai")
    row = totals_data(view, day, None, "metered", "Asia/Shanghai")["periods"]["day 2025-06-01"]
    assert row["metered"] == pytest.approx(72.0)
    assert row["compared"]["metered"] == pytest.approx(69.0)
    assert row["compared"]["derived"] == pytest.approx(69.0)
