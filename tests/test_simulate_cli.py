"""`wellgate simulate`: the site's meters as the simulated well, driven the way an installer would.

A real process on the demo config: its first line names the ports, `wellgate probe` reads a meter
on one of them, the stdin channel answers commands, and "stop" ends it with exit 0. A broken
config is refused like `check-config` refuses it: every error named, exit 2, no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WELLGATE = [sys.executable, "-m", "gateway"]
DEMO = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo.toml"


def test_simulate_serves_the_sites_meters_and_takes_commands():
    simulator = subprocess.Popen([*WELLGATE, "simulate", "--config", str(DEMO), "--time-scale",
                                  "10"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(simulator.stdout.readline())
        assert ready["event"] == "ready" and set(ready["lines"]) == {"rs485-1", "meter-645"}
        probe = subprocess.run([*WELLGATE, "probe", "--config", str(DEMO), "flow-meter",
                                "--port", ready["lines"]["rs485-1"], "--json"],
                               capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        assert "forward_total" in probe.stdout
        simulator.stdin.write(json.dumps({"cmd": "served", "device": "flow-meter", "id": 7})
                              + "\n")
        simulator.stdin.flush()
        reply = json.loads(simulator.stdout.readline())
        assert reply["ok"] and reply["id"] == 7 and "forward_total" in reply["result"]
        simulator.stdin.write('{"cmd": "stop"}\n')
        simulator.stdin.flush()
        assert json.loads(simulator.stdout.readline())["ok"]
        assert simulator.wait(15) == 0, simulator.stderr.read()
    finally:
        if simulator.poll() is None:
            simulator.kill()


def test_simulate_refuses_a_broken_config_like_check_config(tmp_path):
    broken = tmp_path / "site.toml"
    broken.write_text(DEMO.read_text(encoding="utf-8").replace('type = "rtu"', 'type = "rs232"',
                                                               1))
    done = subprocess.run([*WELLGATE, "simulate", "--config", str(broken)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert 'buses[0].type = "rs232": expected one of' in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
