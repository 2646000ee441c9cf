"""How reports are cut from the store's committed records (gateway/uplink/centre_reports.py), on
records written through the store's real writer: one poll a report when the period is the
polling period, the newest of each point when it is longer, a pump start or stop sent at once
with the rest of its poll (it once split a poll in two reports of one time), the timer."""

from __future__ import annotations

from pathlib import Path

from gateway.readings import Reading
from gateway.store import StoreWriter, create_key, load_private_key
from gateway.store.schema import DB_FILE
from gateway.uplink.centre_reports import Mapping, ReportReader

T0 = 1_750_000_000.0
POINTS = {"flow": "flow-meter/flow_rate", "volume": "flow-meter/forward_total",
          "pump_power": "pump-energy/active_power"}


def poll(at: float, flow: float, volume: float, power: float, power_first: bool = False):
    """One poll of both meters (the pump-energy meter first when power_first), 50 ms apart."""
    meters = [[("pump-energy", "active_power", power), ("pump-energy", "voltage_l1", 230.0)],
              [("flow-meter", "flow_rate", flow), ("flow-meter", "forward_total", volume)]]
    if not power_first:
        meters.reverse()
    return [Reading(device, point, value, "", (), at + 0.05 * index, 0.0)
            for index, (device, point, value) in enumerate(m for meter in meters
                                                           for m in meter)]


def store(tmp_path: Path, polls: list[list[Reading]]) -> Path:
    create_key(tmp_path)
    writer = StoreWriter(tmp_path, load_private_key(tmp_path))
    try:
        for readings in polls:
            writer.append(readings)
    finally:
        writer.close()
    return tmp_path / DB_FILE


def cut_all(path: Path, period: float, grace: float, now: float) -> list:
    reader = ReportReader(path, Mapping(POINTS, period, grace, 0.5))
    reports, cursor, pump = [], 0, None
    try:
        while (report := reader.next_report(cursor, now, pump)) is not None:
            reports.append(report)
            cursor = report.last_seq
            pump = report.pump_running if report.pump_running is not None else pump
    finally:
        reader.close()
    return reports


def test_a_period_equal_to_the_polling_period_reports_every_poll_once(tmp_path):
    polls = [poll(T0 + 60 * i, 30.0 + i, 1000.0 + i, 7.0) for i in range(5)]
    reports = cut_all(store(tmp_path, polls), 60.0, 30.0, now=T0 + 1000)
    assert [r.values["volume"] for r in reports] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
    assert [(r.first_seq, r.last_seq) for r in reports] == [(1, 4), (5, 8), (9, 12), (13, 16),
                                                            (17, 20)]  # every seq covered once
    assert [r.observed for r in reports] == [T0 + 60 * i for i in range(5)]


def test_a_longer_period_sends_the_newest_reading_of_each_point(tmp_path):
    polls = [poll(T0 + 60 * i, 30.0 + i, 1000.0 + i, 7.0) for i in range(6)]
    reports = cut_all(store(tmp_path, polls), 180.0, 30.0, now=T0 + 1000)
    assert [r.values["volume"] for r in reports] == [1002.0, 1005.0]
    assert [(r.first_seq, r.last_seq) for r in reports] == [(1, 12), (13, 24)]


def test_a_pump_start_is_sent_at_once_with_the_rest_of_its_poll(tmp_path):
    polls = [poll(T0, 0.0, 1000.0, 0.0), poll(T0 + 60, 30.0, 1000.0, 7.0, power_first=True)]
    path = store(tmp_path, polls)
    # Before the period is over: the first report waits; the pump start does not.
    reader = ReportReader(path, Mapping(POINTS, 300.0, 30.0, 0.5))
    first = reader.next_report(0, T0 + 200, None)
    assert first is not None and first.last_seq == 4 and first.pump_running is False
    second = reader.next_report(4, T0 + 200, False)
    reader.close()
    assert second is not None and second.cause == "change"
    # The flow reading that follows the power reading in the same poll is in the same report.
    assert second.values == {"pump_power": 7.0, "flow": 30.0, "volume": 1000.0}
    assert (second.first_seq, second.last_seq, second.observed) == (5, 8, T0 + 60)


def test_an_incomplete_report_waits_for_its_period_then_goes_on_the_timer(tmp_path):
    path = store(tmp_path, [poll(T0, 30.0, 1000.0, 7.0)])
    reader = ReportReader(path, Mapping(POINTS, 60.0, 30.0, 0.5))
    try:
        assert reader.next_report(0, T0 + 59, None) is None
        report = reader.next_report(0, T0 + 60, None)
    finally:
        reader.close()
    assert report is not None and report.cause == "timer" and report.last_seq == 4


def test_records_of_unmapped_points_are_covered_and_scanned_once(tmp_path):
    others = [[Reading("grid-meter", "import_energy", float(i), "", (), T0 + 1 + i, 0.0)]
              for i in range(5)]
    path = store(tmp_path, [poll(T0, 30.0, 1000.0, 7.0), *others])
    reader = ReportReader(path, Mapping(POINTS, 60.0, 30.0, 0.5))
    try:
        first = reader.next_report(0, T0 + 100, None)
        assert first is not None and (first.first_seq, first.last_seq) == (1, 9)
        more = [[Reading("grid-meter", "import_energy", 9.0, "", (), T0 + 70, 0.0)]]
        writer = StoreWriter(tmp_path, load_private_key(tmp_path))
        writer.append(more[0])
        assert reader.next_report(9, T0 + 100, True) is None  # only unmapped records after 9
        writer.append(poll(T0 + 120, 31.0, 1001.0, 7.0))
        writer.close()
        second = reader.next_report(9, T0 + 300, True)  # the scan resumes after seq 10
    finally:
        reader.close()
    assert second is not None and (second.first_seq, second.last_seq) == (10, 14)
    assert second.values == {"pump_power": 7.0, "flow": 31.0, "volume": 1001.0}
