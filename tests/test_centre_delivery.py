"""Must-show: a simulated day of the demo well's readings delivered to the centre simulator (a
real `wellgate platform center` process) over SL/T 427-2021 and over SL 651-2014, with every
fault it can inject along the way (no ack, late ack, NAK, dropped connection, garbage bytes):
every stored reading of the mapped points arrives, none twice, each value equal to the store's
at the protocol's resolution; the cursor is the last report the centre acknowledged."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from centre_uplink_support import Centre, filled_site, mapped_readings, sl427_uplink, sl651_uplink

from gateway.store import DB_FILE, open_reader
from gateway.store.cursors import acked_seq
from gateway.uplink.centres import centre_link

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = 300.0  # the report period = the simulated polling period: every reading is reported


def sets_of(readings) -> dict[float, dict[str, float]]:
    """wall time -> element -> value, the store's readings as the reports should carry them."""
    from centre_uplink_support import MAPPED
    out: dict[float, dict[str, float]] = {}
    for record in readings:
        out.setdefault(record.wall_time, {})[MAPPED[(record.device, record.point)]] = record.value
    return out


def iso(wall: float, seconds: bool = True) -> str:
    moment = datetime.fromtimestamp(wall, SHANGHAI)
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if seconds else "%Y-%m-%dT%H:%M:00")


async def deliver_with_faults(centre: Centre, link, faults: list[dict], state_dir: Path,
                              timeout: float = 120.0) -> None:
    """Run the link, inject each fault in turn once the previous one is used up, and wait until
    the cursor reaches the store's last seq."""
    task = asyncio.create_task(link.run())
    with open_reader(state_dir / DB_FILE) as conn:
        last = conn.execute("SELECT max(seq) FROM records").fetchone()[0]
    try:
        for fault in faults:
            await asyncio.sleep(0.3)  # some reports pass between faults
            await asyncio.to_thread(centre.command, cmd="fault", **fault)
            await asyncio.to_thread(centre.wait_fault_used, 30.0)
        deadline = time.monotonic() + timeout
        while link.status.acked_seq < last:
            assert time.monotonic() < deadline, (link.status, last)
            assert not task.done(), task
            await asyncio.sleep(0.1)
    finally:
        link.stop()
        await asyncio.wait_for(task, 10)


def acked(state_dir: Path, name: str) -> int:
    with open_reader(state_dir / DB_FILE) as conn:
        return acked_seq(conn, name)


def distinct(reports: list[dict]) -> list[dict]:
    return [report for report in reports if not report["duplicate"]]


def values_of(report: dict) -> dict[str, object]:
    import json
    return {element["name"]: element["value"] for element in json.loads(report["elements"])}


@pytest.fixture
def centre427(tmp_path):
    centre = Centre("sl427", tmp_path, 0)
    yield centre
    centre.close()


@pytest.fixture
def centre651(tmp_path):
    centre = Centre("sl651", tmp_path, 0)
    yield centre
    centre.close()


async def test_a_day_over_sl427_with_every_fault_arrives_once_and_equal(tmp_path, centre427):
    config = filled_site(tmp_path, sl427_uplink("city", centre427.port, PERIOD))
    state = Path(config.gateway.state_dir)
    expected = sets_of(mapped_readings(state))
    assert len(expected) == 288  # a day of 5-minute polls
    link = centre_link(config, config.uplinks[0], state)
    await deliver_with_faults(centre427, link, [
        {"fault": "no_ack", "count": 2},
        {"fault": "late_ack", "count": 1, "delay": 1.0},  # after the station's 0.4 s timeout
        {"fault": "garbage", "count": 2},
        {"fault": "drop", "count": 1},
    ], state)
    reports = distinct(centre427.reports())
    by_kind: dict[str, list[dict]] = {}
    for report in reports:
        names = values_of(report)
        kind = "flow" if "flow_1" in names else "energy" if "energy_1" in names else "level"
        by_kind.setdefault(kind, []).append(report)
    # Every report of each kind once: one per stored poll, none twice, same times.
    for kind in ("flow", "energy", "level"):
        observed = Counter(report["observed"] for report in by_kind[kind])
        assert sorted(observed) == sorted(iso(wall) for wall in expected), kind
        assert set(observed.values()) == {1}, kind
    for report in by_kind["flow"]:
        wall = next(w for w in expected if iso(w) == report["observed"])
        values = values_of(report)
        assert values["flow_1"] == round(expected[wall]["flow"], 3)
        assert values["volume_1"] == round(expected[wall]["volume"])
        pump_stopped = expected[wall]["pump_power"] <= 0.5
        assert bool(values["status_word"] >> 4 & 1) == pump_stopped
    for report in by_kind["energy"]:
        wall = next(w for w in expected if iso(w) == report["observed"])
        assert values_of(report)["energy_1"] == round(expected[wall]["energy"], 2)
    for report in by_kind["level"]:
        wall = next(w for w in expected if iso(w) == report["observed"])
        assert values_of(report)["level_1"] == round(expected[wall]["water_level"], 3)
    # The faults happened: resends, stray bytes skipped, a reconnect after the drop.
    assert link.status.resends >= 3
    assert link.status.stray_bytes > 0
    assert link.status.failures >= 1
    assert acked(state, "city") == link.status.acked_seq


async def test_a_day_over_sl651_with_every_fault_arrives_once_and_equal(tmp_path, centre651):
    config = filled_site(tmp_path, sl651_uplink("county", centre651.port, PERIOD))
    state = Path(config.gateway.state_dir)
    expected = sets_of(mapped_readings(state))
    assert len(expected) == 288
    link = centre_link(config, config.uplinks[0], state)
    await deliver_with_faults(centre651, link, [
        {"fault": "no_ack", "count": 2},
        {"fault": "nak", "count": 2},
        {"fault": "late_ack", "count": 1, "delay": 1.0},
        {"fault": "garbage", "count": 2},
        {"fault": "drop", "count": 1},
    ], state)
    reports = distinct(centre651.reports())
    observed = Counter(report["observed"] for report in reports)
    assert sorted(observed) == sorted(iso(wall, seconds=False) for wall in expected)
    assert set(observed.values()) == {1}
    for report in reports:
        wall = next(w for w in expected if iso(w, seconds=False) == report["observed"])
        values = values_of(report)
        assert values["27"] == pytest.approx(round(expected[wall]["flow"] / 3600, 6), abs=1e-9)
        assert values["FF01"] == round(expected[wall]["volume"], 2)
        assert values["FF02"] == round(expected[wall]["energy"], 2)
        assert values["39"] == round(expected[wall]["water_level"], 3)
    assert link.status.resends >= 5
    assert link.status.stray_bytes > 0
    assert acked(state, "county") == link.status.acked_seq


async def test_szy206_2016_with_big_endian_words_matches_a_centre_of_that_edition(tmp_path):
    centre = Centre("sl427", tmp_path, 0, "--edition", "2016", "--word-order", "big")
    try:
        config = filled_site(tmp_path, sl427_uplink(
            "city", centre.port, PERIOD, 'edition = "SZY206-2016"\nword_order = "big"'), hours=2)
        state = Path(config.gateway.state_dir)
        expected = sets_of(mapped_readings(state))
        link = centre_link(config, config.uplinks[0], state)
        await deliver_with_faults(centre, link, [], state)
        reports = distinct(centre.reports())
    finally:
        centre.close()
    flow = [r for r in reports if "flow_1" in values_of(r)]
    # The 5-byte time tag: day and time only (--DDThh:mm:ss); no energy code in the 2016 table.
    assert [r["observed"] for r in flow] == ["--" + iso(w)[8:] for w in sorted(expected)]
    assert not any("energy_1" in values_of(r) for r in reports)
    for report, wall in zip(flow, sorted(expected), strict=True):
        values = values_of(report)
        assert values["volume_1"] == round(expected[wall]["volume"])
        assert bool(values["status_word"] >> 4 & 1) == (expected[wall]["pump_power"] <= 0.5)
