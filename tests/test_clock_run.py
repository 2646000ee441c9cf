"""A gateway started with its clock a year behind, then set right by NTP (issue 13, Time).

Real processes: `wellgate simulate` pumps; `wellgate run` polls it, with the wall clock it reads
shifted a year back and the kernel's flag "not synchronised" through the test seam
$WELLGATE_TEST_CLOCK (gateway/wallclock.py: the system clock cannot be moved in a test). After
12 s the seam steps the clock to the right time and reports it synchronised, as NTP would. The
readings before the step carry "clock": "unsynchronised" and last year's date; the step is
logged once with its size and kept in the store; accounting repairs what it booked under the
wrong clock, so this year holds every m³ the flow meter counted and last year none.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from store_support import stored
from uplink_support import wait_until

from gateway.wallclock import TEST_CLOCK_ENV

WELLGATE = [sys.executable, "-m", "gateway"]
YEAR = 365 * 86400.0
SHANGHAI = ZoneInfo("Asia/Shanghai")

SITE = """\
[well]
id = "150602-0061"
timezone = "Asia/Shanghai"

[gateway]
runtime_dir = "{folder}/run"
state_dir = "{folder}/state"

[store]
commit_interval = 0.5

[[buses]]
name = "rs485-1"
type = "rtu"
port = "{port}"
timeout = 0.3
retries = 1

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = 1.0

[[devices]]
name = "pump-energy"
bus = "rs485-1"
model = "chint-dtsu666"
slave_id = 2
poll_interval = 1.0

[well.accounting]
pump_capacity_m3h = 60
rated_power_kw = 7.5
interval_s = 10

[well.accounting.alarms.clock]
check_every_s = 1
"""


def set_clock(path: Path, offset_s: float, synchronised: int) -> None:
    """The seam's file, replaced at once (the gateway never reads half of it)."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps({"offset_s": offset_s, "synchronised": synchronised}))
    os.replace(part, path)


def totals(config: Path, day: datetime) -> dict:
    done = subprocess.run([*WELLGATE, "totals", "--config", str(config), "--date",
                           day.date().isoformat(), "--json"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def flow_totals(state: Path) -> list:
    """The flow meter's stored totals, in seq order (none while the store is being made)."""
    try:
        return [r for r in stored(state, "reading")
                if r.device == "flow-meter" and r.point == "forward_total"]
    except (sqlite3.Error, FileNotFoundError):
        return []


def clock_flags(state: Path) -> list[str]:
    """The kinds of the clock flags accounting has stored so far."""
    try:
        return [r.data["kind"] for r in stored(state, "flag") if r.point == "clock"]
    except (sqlite3.Error, FileNotFoundError):
        return []


def test_a_clock_a_year_behind_then_set_flags_repairs_and_keeps_the_totals(tmp_path):
    clock = tmp_path / "clock.json"
    set_clock(clock, -YEAR, 0)
    simulated = tmp_path / "simulated.toml"
    simulated.write_text(SITE.format(folder=tmp_path, port="/dev/ttyUSB0"))
    simulator = subprocess.Popen([*WELLGATE, "simulate", "--config", str(simulated),
                                  "--time-scale", "1"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    log_path = tmp_path / "gateway.log"
    state = tmp_path / "state"
    gateway = None
    try:
        port = json.loads(simulator.stdout.readline())["lines"]["rs485-1"]
        config = tmp_path / "gateway.toml"
        config.write_text(SITE.format(folder=tmp_path, port=port))
        init = subprocess.run([*WELLGATE, "init", "--config", str(config)],
                              capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, init.stderr
        with open(log_path, "w") as log:
            gateway = subprocess.Popen([*WELLGATE, "run", "-v", "--config", str(config)],
                                       stderr=log, env={**os.environ, TEST_CLOCK_ENV: str(clock)})
        wait_until(lambda: (tmp_path / "run" / "health.json").exists(), 30, "the gateway runs")
        # (were fixed sleeps of 12 s and 8 s: too long on a quiet machine, too short under load)
        wait_until(lambda: len(flow_totals(state)) >= 10, 60,
                   "ten flow totals stored under last year's clock")
        stepped_at = time.time()
        set_clock(clock, 0.0, 1)
        wait_until(lambda: len([r for r in flow_totals(state) if r.wall_time > stepped_at - 60])
                   >= 6 and "clock_adopted" in clock_flags(state), 60,
                   "six flow totals after the step, and accounting adopting the set clock")
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(30) == 0, log_path.read_text()
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)
    log = log_path.read_text()
    assert "the wall clock is not synchronised" in log, log
    steps = [line for line in log.splitlines() if "the wall clock stepped by" in line]
    assert len(steps) == 1, log
    step = float(steps[0].split("stepped by ")[1].split(" s")[0])
    assert abs(step - YEAR) < 5, steps

    flow = flow_totals(state)
    before = [r for r in flow if r.wall_time < stepped_at - YEAR / 2]
    after = [r for r in flow if r.wall_time > stepped_at - YEAR / 2]
    assert len(before) >= 8 and len(after) >= 4, (len(before), len(after))
    assert all(r.data == {"kind": "total", "clock": "unsynchronised"} for r in before)
    assert all(abs(r.wall_time + YEAR - stepped_at) < 30 for r in before)
    assert all(r.data == {"kind": "total"} for r in after)
    recorded = [r for r in stored(state, "health") if r.point == "clock_step"]
    assert len(recorded) == 1 and abs(recorded[0].value - YEAR) < 5, recorded
    # the readings after the step may reach accounting before the kernel's flag does: then they
    # are a jump first (accounted at the monotonic clock's time), adopted when the flag comes
    adopted = [r.data for r in stored(state, "flag") if r.point == "clock"]
    assert [d["kind"] for d in adopted] in (["clock_adopted"], ["clock_jump", "clock_adopted"])
    assert abs(adopted[-1]["correction_s"] - YEAR) < 5, adopted

    # Accounting: every m³ the meter counted over the run is this year's, none last year's.
    counted = flow[-1].value - flow[0].value
    assert counted > 0.1, counted
    now = datetime.fromtimestamp(flow[-1].wall_time, SHANGHAI)
    this_year = totals(config, now)
    last_year = totals(config, now.replace(year=now.year - 1))
    day, year = f"day {now.date()}", f"year {now.year}"
    print(f"the meter counted {counted:.4f} m³; {day}: {this_year['periods'][day]['metered']}")
    assert this_year["periods"][day]["metered"] == pytest.approx(counted, abs=1e-6)
    assert this_year["periods"][year]["metered"] == pytest.approx(counted, abs=1e-6)
    assert not last_year["periods"][f"day {now.date().replace(year=now.year - 1)}"]["metered"]
    assert last_year["periods"][f"year {now.year - 1}"]["metered"] == 0


def test_a_flagged_reading_is_signed_stored_and_sent_as_it_was_read(tmp_path):
    """The clock state lives in the record's data, so the chain, verify and wire format v1 carry
    it unchanged: a block of readings (the writer's fast path) and a block mixed with another
    record (the general path) give the same data, verify passes, and the payload brings every
    record back with the same canonical bytes."""
    from store_support import verified

    from gateway.config import StoreSection
    from gateway.readings import Reading
    from gateway.store import StoreSink, create_key, records
    from gateway.store.records import NewRecord
    from gateway.uplink.outbox import Outbox
    from gateway.uplink.payload import decode_payload, encode_payload

    create_key(tmp_path)
    sink = StoreSink(tmp_path, StoreSection(commit_interval=0.1))
    readings = [Reading("flow-meter", "forward_total", 1234.5 + i, "m³", (0, 1234 + i),
                        1.75e9 + i, 10.0 + i, kind="total",
                        clock="unsynchronised" if i % 2 else None) for i in range(6)]
    try:
        sink.accept(readings[:3])
        assert sink.flush()
        sink.accept(readings[3:])
        sink.append_record(NewRecord.make("health", "gateway", "clock_step", 31536000.0,
                                          wall_time=1.75e9 + 7, mono_time=17.0))
        assert sink.flush()
    finally:
        sink.close()
    assert verified(tmp_path).ok
    kept = [r for r in stored(tmp_path, "reading")]
    assert [r.data for r in kept] == [
        {"kind": "total", "clock": "unsynchronised"} if i % 2 else {"kind": "total"}
        for i in range(6)]
    assert [records.from_reading(r).data for r in readings] == [r.data for r in kept]
    chunk = Outbox(tmp_path / "wellgate.db").read(0, 100)
    _, back = decode_payload(encode_payload(chunk.blocks, chunk.records, {}), chunk.first_seq,
                             chunk.blocks[0].block_no)
    from gateway.store import chain
    assert [chain.canonical_bytes(r) for r in back] == [
        chain.canonical_bytes(r) for r in chunk.records]
