"""SIGHUP reloads the config of a running gateway (issue 13): real processes throughout.

`wellgate simulate` serves three meters on one pty line; `wellgate run` polls two of them into
its store. The config file is rewritten (one device removed, one added) and the gateway gets
SIGHUP: the device that stayed is polled on at its interval with no reading lost or repeated, the
added one starts, the removed one stops. Then a broken config and one that changes the well's id
are refused with their errors, and polling goes on. SIGTERM, then the store is checked.
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from site_config import flow_meter, rtu_bus, site_toml
from store_support import stored
from uplink_support import wait_until

from gateway.store.cursors import acked_seq
from gateway.store.schema import open_reader

WELLGATE = [sys.executable, "-m", "gateway"]
WELL = "150602-0051"
INTERVAL = 1.0  # s between polls of each meter
ENERGY = {"name": "pump-energy", "bus": "rs485-1", "model": "chint-dtsu666", "slave_id": 2,
          "poll_interval": INTERVAL}
LEVEL = {"name": "well-level", "bus": "rs485-1", "model": "qdy30a", "slave_id": 3,
         "poll_interval": INTERVAL}


def site(folder: Path, port: str, *devices: dict, well: str = WELL) -> str:
    return site_toml(folder, well=well, store={"commit_interval": 0.5},
                     buses=[rtu_bus(port, timeout=0.3, retries=1)],
                     devices=[flow_meter(poll_interval=INTERVAL), *devices])


@pytest.fixture
def line(tmp_path):
    """The simulated well's three meters on a pty line; yields its port."""
    config = tmp_path / "simulated.toml"
    config.write_text(site(tmp_path, "/dev/ttyUSB0", ENERGY, LEVEL))
    simulator = subprocess.Popen([*WELLGATE, "simulate", "--config", str(config)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield json.loads(simulator.stdout.readline())["lines"]["rs485-1"]
    finally:
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)


class Gateway:
    """`wellgate run -v` on a config file, its log in a file the test can read as it grows."""

    def __init__(self, folder: Path, text: str) -> None:
        self.config = folder / "gateway.toml"
        self.config.write_text(text)
        self.state = folder / "state"
        init = subprocess.run([*WELLGATE, "init", "--state-dir", str(self.state)],
                              capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, init.stderr
        self.log_path = folder / "gateway.log"
        self.logged_by = 0.0  # monotonic: when hup() saw the line it waited for
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen([*WELLGATE, "run", "-v", "--config",
                                             str(self.config)], stderr=log)

    def log(self) -> str:
        return self.log_path.read_text()

    def hup(self, text: str, expect: str) -> float:
        """Rewrite the config, SIGHUP, wait for the log line `expect`; returns when it was sent
        (monotonic: the same clock as the store's mono_time on Linux)."""
        seen = self.log().count(expect)
        self.config.write_text(text)
        sent = time.monotonic()
        self.process.send_signal(signal.SIGHUP)
        wait_until(lambda: self.log().count(expect) > seen or self.process.poll() is not None,
                   30, expect)
        self.logged_by = time.monotonic()  # the reload was done (and logged) before this
        assert self.process.poll() is None, self.log()
        return sent

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                return None
        return self.process.returncode


def committed(folder: Path) -> int:
    """The last seq the running gateway's health snapshot says is committed (0: none yet)."""
    try:
        return json.loads((folder / "run" / "health.json").read_text())["store"]["last_seq"] or 0
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def health_devices(folder: Path) -> set[str]:
    try:
        snapshot = json.loads((folder / "run" / "health.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return set()
    return {device["device"] for device in snapshot["devices"]}


def polls(state: Path, device: str, point: str) -> list[float]:
    """The monotonic times of one point's readings, in seq order."""
    return [r.mono_time for r in stored(state, "reading") if r.device == device
            and r.point == point]


def test_sighup_adds_and_removes_devices_without_losing_a_reading(tmp_path, line):
    gateway = Gateway(tmp_path, site(tmp_path, line, LEVEL))
    try:
        wait_until(lambda: committed(tmp_path) and polls(gateway.state, "well-level", "level"),
                   30, "the level polled")
        time.sleep(3 * INTERVAL)
        swapped = gateway.hup(site(tmp_path, line, ENERGY), "reloaded")
        swap_done_by = gateway.logged_by
        wait_until(lambda: health_devices(tmp_path) == {"flow-meter", "pump-energy"}, 15,
                   "the health snapshot to show the new devices")
        time.sleep(4 * INTERVAL)
        broken = site(tmp_path, line, ENERGY).replace('type = "rtu"', 'type = "rs232"')
        refused_at = gateway.hup(broken, "refused")
        gateway.hup(site(tmp_path, line, ENERGY, well="150602-0099"), "refused")
        time.sleep(3 * INTERVAL)
        code = gateway.stop()
    finally:
        gateway.stop()
    log = gateway.log()
    assert code == 0, log
    reloaded = [row for row in log.splitlines() if "reloaded" in row]
    assert len(reloaded) == 1 and "devices added: pump-energy" in reloaded[0] \
        and "devices removed: well-level" in reloaded[0], log
    assert 'buses[0].type = "rs232": expected one of' in log, log
    assert "well.id cannot change while the gateway runs" in log, log

    verify = subprocess.run([*WELLGATE, "verify", "--db", str(gateway.state / "wellgate.db")],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    flow = polls(gateway.state, "flow-meter", "forward_total")
    assert len(flow) == len(set(flow)), "a flow reading stored twice"
    before = [t for t in flow if t < swapped]
    after = [t for t in flow if t > swapped + INTERVAL]
    assert len(before) >= 3 and len(after) >= 6, (len(before), len(after))
    gaps = [b - a for a, b in itertools.pairwise(flow)]
    # every poll at its slot across both reloads: no slot missed (a gap of 2 intervals), none
    # polled twice (a gap near 0)
    assert all(0.25 * INTERVAL < gap < 1.95 * INTERVAL for gap in gaps), gaps
    level = polls(gateway.state, "well-level", "level")
    # polled no more once the reload was done: before its log line was seen (it was "within one
    # interval of the SIGHUP", which a loaded machine broke by 8 ms: the reload itself took longer)
    assert level and max(level) < swap_done_by, (level, swapped, swap_done_by)
    energy = polls(gateway.state, "pump-energy", "import_energy")
    assert energy and min(energy) > swapped, (energy, swapped)
    assert max(energy) > refused_at + INTERVAL, "polling stopped after the refused reload"
    assert len(energy) == len(set(energy))


def receiver_seqs(database: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return [seq for (seq,) in conn.execute("SELECT seq FROM records ORDER BY seq")]
    finally:
        conn.close()


def store_acked(state: Path) -> int:
    """The city destination's cursor in the gateway's store."""
    conn = open_reader(state / "wellgate.db")
    try:
        return acked_seq(conn, "city")
    finally:
        conn.close()


def uplink_names(folder: Path) -> set[str]:
    try:
        return set(json.loads((folder / "run" / "uplink.json").read_text())["uplinks"])
    except (FileNotFoundError, json.JSONDecodeError):
        return set()


def test_sighup_adds_removes_and_adds_back_a_destination_from_its_cursor(tmp_path, line):
    """No uplink, then the city's receiver added (it gets everything from seq 1), removed (it
    gets nothing more while the store grows), added back (it goes on from its cursor): the
    receiver ends with every seq once, 1..the last, and the store's cursor says so."""
    from uplink_support import HttpsReceiver, make_tls

    from gateway.store import load_public_key

    tls = make_tls(tmp_path / "tls")
    gateway = Gateway(tmp_path, site(tmp_path, line))
    receiver = HttpsReceiver(tmp_path / "platform.db",
                             {WELL: load_public_key(gateway.state / "gateway.pub")}, tls)
    receiver.start()
    city = {"name": "city", "type": "https", "url": receiver.url,
            "ca_file": str(tls.ca_file), "batch_max_age": 0.5, "timeout": 2}
    with_city = site_toml(tmp_path, well=WELL, store={"commit_interval": 0.5},
                          buses=[rtu_bus(line, timeout=0.3, retries=1)],
                          devices=[flow_meter(poll_interval=INTERVAL)], uplinks=[city])
    platform = tmp_path / "platform.db"
    try:
        wait_until(lambda: committed(tmp_path) > 0, 30, "readings committed")
        gateway.hup(with_city, "reloaded")
        wait_until(lambda: len(receiver_seqs(platform)) >= committed(tmp_path) > 0, 30,
                   "the new destination to catch up from seq 1")
        assert receiver_seqs(platform)[0] == 1
        gateway.hup(site(tmp_path, line), "reloaded")
        wait_until(lambda: uplink_names(tmp_path) == set(), 10, "the status without city")
        held = len(receiver_seqs(platform))
        grown = committed(tmp_path)
        wait_until(lambda: committed(tmp_path) > grown + 5, 30, "the store to grow")
        assert len(receiver_seqs(platform)) == held  # a removed destination sends nothing
        gateway.hup(with_city, "reloaded")
        wait_until(lambda: len(receiver_seqs(platform)) >= committed(tmp_path) > grown + 5, 30,
                   "the destination back, from its cursor")
        caught_up = len(receiver_seqs(platform))
        wait_until(lambda: store_acked(gateway.state) >= caught_up, 30, "the ack recorded")
        assert uplink_names(tmp_path) == {"city"}
        code = gateway.stop()
    finally:
        gateway.stop()
        receiver.close()
    log = gateway.log()
    assert code == 0, log
    reloads = [row.split(": ", 2)[-1] for row in log.splitlines() if "reloaded" in row]
    assert reloads == ["uplinks added: city", "uplinks removed: city", "uplinks added: city"], (
        log)
    seqs = receiver_seqs(platform)
    assert seqs == list(range(1, len(seqs) + 1)), "a gap or a repeat at the receiver"
    assert caught_up <= store_acked(gateway.state) <= seqs[-1]
