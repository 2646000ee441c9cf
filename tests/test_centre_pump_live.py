"""A remote pump stop carried out on the simulated relay, end to end, as real processes: the
simulated well (its relay module wired to the pump's contactor), `wellgate run` with an sl427
uplink (remote_pump = true) and its accounting room driving the relay (dry_run = false), and
`wellgate platform center` sending the commands. The allocation is reached within seconds, so
the cut-off (以电控水) holds first: a remote start is refused; after `wellgate pump restore` the
pump runs, a stop with a wrong password is refused and the pump keeps running, a stop with the
right one opens the contactor: the simulator's pump stops, and the store holds the signed
command record, the pump guard's request and the relay's coil write."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from accounting_support import write_site
from centre_uplink_support import Centre, sl427_uplink
from store_support import stored
from uplink_support import wait_until

from gateway.accounting.records import latest_checkpoint
from gateway.store.schema import open_reader

WELLGATE = [sys.executable, "-m", "gateway"]
STATION = "150602/17"
RELAY = """
[[devices]]
name = "relay"
bus = "rs485-1"
model = "modbus-relay"
slave_id = 9
poll_interval = 0.3

[store]
commit_interval = 0.3

[well.accounting.allocation]
annual_m3 = 0.5
thresholds_percent = [100]

[well.pump_control]
enabled = true
dry_run = false
relay_device = "relay"
coil = 0
confirm_within_s = 10
"""


def site_file(folder: Path, port: str, centre_port: int, name: str) -> Path:
    """The site at 10x simulated speed: 0.5 m³ allowed, judged every second (as
    tests/test_accounting_pump.py's live run), an sl427 uplink that takes pump commands."""
    path = write_site(folder, RELAY + sl427_uplink("city", centre_port, 60.0,
                                                   "remote_pump = true"),
                      port=port, poll=0.3, interval=10, name=name)
    text = path.read_text(encoding="utf-8")
    for old, new in (("pump_capacity_m3h = 60", "pump_capacity_m3h = 1000"),
                     ("rated_power_kw = 7.5", "rated_power_kw = 100"),
                     ("interval_s = 10", "interval_s = 10\nevaluate_every_s = 1.0")):
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path


class Simulator:
    """`python -m gateway.simulator` as a process, its stdin control channel one line each."""

    def __init__(self, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.simulator", "--config", str(config),
             "--time-scale", "10", "--seed", "4"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = json.loads(self.process.stdout.readline())

    def ask(self, **command: Any) -> Any:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        assert answer["ok"], answer
        return answer["result"]

    def pump_on(self) -> bool:
        return self.ask(cmd="snapshot")["pump_on"]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def guard(state: Path) -> dict[str, Any]:
    """The pump guard in the accounting room's newest checkpoint (what the desk reads)."""
    try:
        conn = open_reader(state / "wellgate.db")
    except FileNotFoundError:
        return {}
    try:
        checkpoint = latest_checkpoint(conn)
    except sqlite3.OperationalError:  # the gateway has not made its tables yet
        return {}
    finally:
        conn.close()
    return ((checkpoint.data or {}).get("pump") or {}) if checkpoint is not None else {}


def test_a_remote_stop_opens_the_simulated_relay_and_the_cut_off_refuses_a_start(tmp_path):
    state = tmp_path / "state"
    centre = Centre("sl427", tmp_path, 0, "--password", "1234")
    simulator = Simulator(site_file(tmp_path, "/dev/ttyUSB0", centre.port, "simulated.toml"))
    gateway = None
    try:
        assert simulator.ask(cmd="wire_relay", device="relay", coil=0, stops_pump=True) == {}
        assert simulator.pump_on()
        assert subprocess.run([*WELLGATE, "init", "--state-dir", str(state)],
                              capture_output=True, timeout=60).returncode == 0
        config = site_file(tmp_path, simulator.ready["lines"]["rs485-1"], centre.port,
                           "gateway.toml")
        log = (tmp_path / "gateway.log").open("w")  # a file: a full pipe would block the gateway
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=log)
        send = lambda command, **args: centre.command(  # noqa: E731
            cmd="send", station=STATION, command=command, args=args, timeout=10)["result"]
        # 0.5 m³ at 10x speed: the cut-off fires, the relay stops the pump, the checkpoint says so
        wait_until(lambda: guard(state).get("cut_year") is not None and not simulator.pump_on(),
                   60, "the cut-off in force and the pump stopped")
        assert send("pump_start", pump=1) == {"pump": 1, "done": False}
        assert not simulator.pump_on()
        restored = subprocess.run([*WELLGATE, "pump", "--config", str(config), "restore",
                                   "--note", "test"], capture_output=True, text=True, timeout=60)
        assert restored.returncode == 0, restored.stderr
        wait_until(lambda: guard(state).get("released") and simulator.pump_on() and [
            r.data["action"] for r in stored(state, "relay")][-1:] == ["restore"], 30,
                   "the pump given back after restore, its relay record committed")
        switched = len(stored(state, "relay"))
        assert send("pump_stop", pump=1, password="9999") == {"pump": 1, "done": False}
        time.sleep(2.0)  # the relay is written within a second of a taken command
        assert simulator.pump_on() and len(stored(state, "relay")) == switched
        assert send("pump_stop", pump=1) == {"pump": 1, "done": True}
        wait_until(lambda: not simulator.pump_on(), 30, "the remote stop on the relay")
        power = simulator.ask(cmd="snapshot")["power_kw"]
        assert power == 0.0
        wait_until(lambda: [r.data["action"] for r in stored(state, "relay")][-1:] == [
            "pump_stop"], 20, "the relay record of the remote stop")
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(30) == 0, (tmp_path / "gateway.log").read_text()
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
        simulator.close()
        centre.close()
    commands = [(r.point, r.value, r.data["password_ok"], r.data["reason"])
                for r in stored(state, "command") if r.device == "centre:city"]
    assert commands == [
        ("pump_start", "refused", True,
         "the cut-off of 2026 is in force (the year's allocation is used up)".replace(
             "2026", str(guard(state)["cut_year"]))),
        ("pump_stop", "refused", False, "wrong password"),
        ("pump_stop", "accepted", True, "taken")]
    relay = [(r.value, r.data["action"], r.data["ok"]) for r in stored(state, "relay")]
    assert relay == [("on", "cut_off", True), ("off", "restore", True),
                     ("on", "pump_stop", True)]
    pump = [(r.point, r.value) for r in stored(state, "pump")]
    assert ("pump_stop", "requested") in pump and ("pump_start", "requested") not in pump, pump
    verified = subprocess.run([*WELLGATE, "verify", "--db", str(state / "wellgate.db")],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
