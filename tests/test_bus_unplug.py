"""Pulling the USB–RS485 adapter out during `wellgate run` and back in (issue 10, item 9).

Found this way: the port hung up (EIO) mid-poll, `run_gateway` raised OSError and the process
exited 1. Here the simulated well runs as its own process with a stable name per serial line (a
symlink, as udev gives /dev/serial/by-id/ names); `unplug` closes the line's pty, so the gateway's
reads and writes fail with EIO, and removes the name; `replug` makes a new pty behind the same name.
The gateway must stay up, the other bus must not notice, and the unplugged bus must be polled
again by itself within one back-off of the adapter coming back.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from site_config import flow_meter, rtu_bus, site_toml
from uplink_support import wait_until

from gateway.store.schema import open_reader

WELLGATE = [sys.executable, "-m", "gateway"]
BACKOFF_MAX = 2.0


def site_text(folder, links) -> str:
    """Two buses, each on a stable name under `links`: the flow meter and a DL/T 645 meter."""
    grid_bus = {"name": "meter-645", "type": "dlt645", "port": f"{links}/meter-645", "baud": 2400,
                "parity": "E", "timeout": 0.3}
    grid_meter = {"name": "grid-meter", "bus": "meter-645", "model": "dlt645-generic",
                  "address": "000000000001", "poll_interval": 0.5}
    return site_toml(folder, well="150602-0099", store={"commit_interval": 0.3},
                     acquisition={"offline_after": 2, "backoff_initial": 1.0,
                                  "backoff_max": BACKOFF_MAX},
                     buses=[rtu_bus(f"{links}/rs485-1", timeout=0.2, retries=0), grid_bus],
                     devices=[flow_meter(poll_interval=0.3, points=["flow_rate", "forward_total"]),
                              grid_meter])


class Simulator:
    """`python -m gateway.simulator` with stable line names, driven over its stdin channel."""

    def __init__(self, config: str, links: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.simulator", "--config", config, "--link-dir", links],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ready = json.loads(self.process.stdout.readline())

    def command(self, **command: object) -> object:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        assert reply["ok"], reply
        return reply["result"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


def _readings(db, device: str) -> int:
    try:
        conn = open_reader(db)
    except Exception:  # the store not created yet
        return 0
    try:
        return conn.execute("SELECT count(*) FROM records WHERE device = ?",
                            (device,)).fetchone()[0]
    except Exception:  # its schema not there yet
        return 0
    finally:
        conn.close()


def _health(config, device: str) -> dict:
    health = subprocess.run([*WELLGATE, "health", "--config", str(config), "--json"],
                            capture_output=True, text=True, timeout=30)
    return next(d for d in json.loads(health.stdout)["devices"] if d["device"] == device)


# (bus unplugged, its device, the other bus's device, seconds unplugged). The DL/T 645 line is
# where the EIO escaped; the Modbus line relied on pymodbus's own reconnect, whose delay doubles
# up to 300 s while the port is missing.
CASES = [("meter-645", "grid-meter", "flow-meter", 4.0),
         ("rs485-1", "flow-meter", "grid-meter", 12.0)]


@pytest.mark.parametrize("bus, device, other, seconds", CASES, ids=[c[0] for c in CASES])
def test_unplugged_adapter_goes_offline_and_comes_back_without_a_restart(
        tmp_path, bus, device, other, seconds):
    links = tmp_path / "by-id"
    links.mkdir()
    config = tmp_path / "gateway.toml"
    config.write_text(site_text(tmp_path, links))
    db = tmp_path / "state" / "wellgate.db"
    simulator = Simulator(str(config), str(links))
    gateway = None
    try:
        assert (links / "rs485-1").is_symlink(), simulator.ready
        init = subprocess.run([*WELLGATE, "init", "--config", str(config)],
                              capture_output=True, text=True, timeout=30)
        assert init.returncode == 0, init.stderr
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: _readings(db, "flow-meter") >= 6 and _readings(db, "grid-meter") >= 2,
                   30, "both buses polled")

        simulator.command(cmd="unplug", line=bus)
        assert not (links / bus).exists()
        unplugged_at = time.monotonic()
        time.sleep(0.5)  # readings already polled may still be committing
        mine_then, other_then = _readings(db, device), _readings(db, other)
        time.sleep(seconds)
        assert gateway.poll() is None, gateway.communicate(timeout=5)
        assert _readings(db, device) == mine_then  # nothing polled from a missing adapter
        assert _readings(db, other) >= other_then + 4  # the other bus never noticed
        # The health snapshot (rewritten every 5 s) shows the device offline, and why.
        wait_until(lambda: _health(config, device)["state"] == "offline", 10, f"{device} offline")
        assert "connect_error" in _health(config, device)["last_error"]

        simulator.command(cmd="replug", line=bus)
        replugged_at = time.monotonic()
        # One back-off (at most BACKOFF_MAX) plus a poll and a commit, on a loaded machine.
        wait_until(lambda: _readings(db, device) > mine_then, BACKOFF_MAX + 3.0,
                   "the replugged bus polled again")
        resumed_after = time.monotonic() - replugged_at
        print(f"{bus} unplugged {replugged_at - unplugged_at:.1f} s; polling resumed "
              f"{resumed_after:.2f} s after the replug (back-off max {BACKOFF_MAX} s)")
        assert gateway.poll() is None

        gateway.send_signal(signal.SIGTERM)
        _, stderr = gateway.communicate(timeout=20)
        assert gateway.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
        simulator.stop()
