"""`wellgate health` says "stale" and exits 3 when its snapshot no longer speaks for a running
gateway: killed (its PID gone), hung (the snapshot not rewritten), or a PID taken by another
process. As found (issue 14): "online … 2.1 s ago" long after the gateway had stopped, exit 0.
(The SIGTERM case is in test_cli.py's run + health test.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from site_config import flow_meter, rtu_bus, site_toml
from uplink_support import wait_until

from gateway.liveness import staleness, writer_fields
from gateway.simulator import SimDevice, SimulatedWell, ThreadRunner

WELLGATE = [sys.executable, "-m", "gateway"]


def health(config):
    return subprocess.run([*WELLGATE, "health", "--config", str(config)], capture_output=True,
                          text=True, timeout=60)


def test_health_after_sigkill_of_the_gateway_is_stale(tmp_path):
    well = SimulatedWell(seed=2, time_scale=0)
    well.add_line("rs485-1", kind="rtu", baud=9600)
    well.add_device("rs485-1", SimDevice("flow-meter", "tuf-2000m", slave_id=1))
    with ThreadRunner(well) as runner:
        port = runner.start()["rs485-1"]
        config = tmp_path / "site.toml"
        config.write_text(site_toml(tmp_path, well="150602-0097", store={},
                                    buses=[rtu_bus(port, timeout=0.2, retries=0)],
                                    devices=[flow_meter(poll_interval=0.5)]), encoding="utf-8")
        assert subprocess.run([*WELLGATE, "init", "--config", str(config)], capture_output=True,
                              timeout=60).returncode == 0
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            snapshot = tmp_path / "run" / "health.json"
            wait_until(lambda: snapshot.exists(), 30, "the first health snapshot")
            runner.call(well.inject, "flow-meter", "crc")

            def last_error() -> str:
                try:
                    return json.loads(snapshot.read_text())["devices"][0]["last_error"]
                except (json.JSONDecodeError, IndexError, KeyError):
                    return ""
            wait_until(lambda: last_error().startswith("crc"), 30, "a CRC error in the snapshot")
            running = health(config)
            assert running.returncode == 0, running.stdout + running.stderr
            # as found, the table cut the reason at 40 characters
            assert len(last_error()) > 40 and last_error() in running.stdout, running.stdout
            gateway.send_signal(signal.SIGKILL)  # no last snapshot: only the PID can tell
            gateway.wait(10)
        finally:
            if gateway.poll() is None:
                gateway.kill()
                gateway.wait(10)
    after = health(config)
    assert after.returncode == 3, after
    assert after.stdout.startswith(f"stale: the gateway that wrote it (PID {gateway.pid}) is "
                                   "not running"), after.stdout


def test_a_snapshot_not_rewritten_in_three_periods_is_stale_though_its_writer_lives():
    """A hung gateway: its process is there, its snapshot grows old."""
    now = time.time()
    fresh = {"written_at": now - 4.0, **writer_fields(5.0)}
    assert staleness(fresh, now) is None
    hung = {**fresh, "written_at": now - 16.0}
    assert "written 16 s ago and should be rewritten every 5 s" in staleness(hung, now)


def test_a_pid_reused_by_another_process_is_stale():
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        snapshot = {"written_at": time.time(), **writer_fields(5.0), "pid": other.pid}
        assert "is not running" in staleness(snapshot)  # alive, but started at another time
    finally:
        other.kill()
        other.wait(10)


def test_health_json_names_why_it_is_stale(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "health.json").write_text(json.dumps(
        {"written_at": time.time() - 3, "stopped_at": time.time() - 3, "pid": os.getpid(),
         "rewritten_every": 5.0, "devices": [], "changes": []}))
    config = tmp_path / "site.toml"
    config.write_text(site_toml(tmp_path, well="150602-0097", store={},
                                buses=[rtu_bus("/dev/ttyUSB0")], devices=[flow_meter()]))
    done = subprocess.run([*WELLGATE, "health", "--config", str(config), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    said = re.fullmatch(r"the gateway stopped (\d+) s ago", json.loads(done.stdout)["stale"])
    assert said and int(said.group(1)) >= 3, done.stdout
