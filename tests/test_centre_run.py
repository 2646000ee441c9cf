"""`wellgate run` with an sl651 centre uplink, as real processes: the simulated well's flow meter
polled, its readings reported to the centre simulator, a pump command from the centre kept as a
signed record by the running gateway's own store writer, and `wellgate status` showing the
centre's cursor."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from centre_uplink_support import Centre
from site_config import flow_meter, rtu_bus, site_toml
from uplink_support import wait_until

from gateway.store.schema import open_reader

WELLGATE = [sys.executable, "-m", "gateway"]
UPLINK = """
[[uplinks]]
name = "county"
type = "sl651"
host = "127.0.0.1"
port = {port}
station = "0015060217"
password = "1234"
report_period = 1.0
keepalive_period = 5.0
ack_timeout = 2.0
backoff_initial = 0.2
backoff_max = 1.0

[uplinks.points]
flow = "flow-meter/flow_rate"
volume = "flow-meter/forward_total"
"""


def site_text(folder, port, centre_port: int) -> str:
    return site_toml(folder, well="150602-0217", store={"commit_interval": 0.3},
                     buses=[rtu_bus(port, timeout=0.3, retries=0)],
                     devices=[flow_meter(poll_interval=0.5)]) + UPLINK.format(port=centre_port)


def wellgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*WELLGATE, *args], capture_output=True, text=True, timeout=60)


def test_run_reports_to_a_centre_and_keeps_its_commands(tmp_path):
    centre = Centre("sl651", tmp_path, 0, "--password", "1234")
    placeholder = tmp_path / "simulated.toml"
    placeholder.write_text(site_text(tmp_path, "/dev/ttyUSB0", centre.port))
    simulator = subprocess.Popen([sys.executable, "-m", "gateway.simulator", "--config",
                                  str(placeholder)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    gateway = None
    try:
        ready = json.loads(simulator.stdout.readline())
        assert wellgate("init", "--state-dir", str(tmp_path / "state")).returncode == 0
        config = tmp_path / "gateway.toml"
        config.write_text(site_text(tmp_path, ready["lines"]["rs485-1"], centre.port))
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: len(centre.reports()) >= 5, 40, "reports at the centre")
        answer = centre.command(cmd="send", station="0015060217", command="pump_start",
                                args={"pump": 1}, timeout=10)
        assert answer["result"]["pumps"][0] is False  # remote_pump is off: refused
        wait_until(lambda: (tmp_path / "run" / "uplink.json").exists(), 10, "uplink status")
        rows = json.loads(wellgate("status", "--config", str(config), "--json").stdout)
        assert rows[0]["name"] == "county" and rows[0]["acked_seq"] > 0
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(20) == 0, gateway.stderr.read()
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)
        centre.close()
    store = open_reader(tmp_path / "state" / "wellgate.db")
    commands = store.execute("SELECT device, point, value, data FROM records WHERE kind = "
                             "'command'").fetchall()
    flows = store.execute("SELECT count(*) FROM records WHERE point = 'forward_total'").fetchone()
    store.close()
    assert [row[:3] for row in commands] == [("centre:county", "pump_start", "refused")]
    assert json.loads(commands[0][3])["reason"] == "remote pump control is off (remote_pump = " \
        "false)"
    reports = [r for r in centre.reports() if not r["duplicate"]]
    assert 5 <= len(reports) <= flows[0]  # at most one report per poll of the flow meter
