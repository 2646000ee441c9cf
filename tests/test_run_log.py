"""What `wellgate run` writes to its log: a start and a stop line, -v levels, journald priorities.

A crew member reading the journal must see what started (version, config, store, key
fingerprint, devices, uplinks) and that it stopped; `-v` adds INFO, `-vv` DEBUG (before, `-v`
already gave DEBUG); under journald (JOURNAL_STREAM set) each line carries its syslog priority as
"<N>" and no timestamp of its own. The config's MQTT password never reaches the log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from uplink_support import wait_until

WELLGATE = [sys.executable, "-m", "gateway"]
PASSWORD = "s3cret-never-logged"
CONFIG = textwrap.dedent("""
    [well]
    id = "150602-0098"

    [gateway]
    runtime_dir = "{folder}/run"
    state_dir = "{folder}/state"

    [[buses]]
    name = "rs485-1"
    type = "rtu"
    port = "{port}"
    timeout = 0.2
    retries = 0

    [[devices]]
    name = "flow-meter"
    bus = "rs485-1"
    model = "tuf-2000m"
    slave_id = 1
    poll_interval = 0.5

    [[uplinks]]
    name = "county"
    type = "mqtt"
    host = "127.0.0.1"
    port = 9
    tls = false
    username = "gw"
    password = "{password}"
    insecure_unsigned_acks = true
    """)


@pytest.fixture
def site(tmp_path):
    placeholder = tmp_path / "simulated.toml"
    placeholder.write_text(CONFIG.format(folder=tmp_path, port="/dev/ttyUSB0", password="x"))
    simulator = subprocess.Popen([*WELLGATE, "simulate", "--config", str(placeholder)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = json.loads(simulator.stdout.readline())
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG.format(folder=tmp_path, port=ready["lines"]["rs485-1"],
                                    password=PASSWORD))
    config.chmod(0o600)
    init = subprocess.run([*WELLGATE, "init", "--config", str(config)], capture_output=True,
                          text=True, timeout=30)
    assert init.returncode == 0, init.stderr
    yield config
    simulator.send_signal(signal.SIGTERM)
    simulator.wait(10)


def run_for(config, seconds: float, *flags: str, env: dict | None = None) -> str:
    health = config.parent / "run" / "health.json"
    health.unlink(missing_ok=True)  # the last run's: waiting for it would not wait for this one
    gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config), *flags],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    wait_until(health.exists, 30, "the gateway running")
    time.sleep(seconds)
    gateway.send_signal(signal.SIGTERM)
    _, log = gateway.communicate(timeout=20)
    assert gateway.returncode == 0, log
    return log


def test_start_and_stop_lines_and_nothing_else_by_default(site):
    log = run_for(site, 1.0)
    assert PASSWORD not in log
    start = [line for line in log.splitlines() if "starting:" in line]
    assert len(start) == 1, log
    from gateway import __version__
    assert f"wellgate {__version__} starting: config {site.resolve()}" in start[0]
    assert "key SHA256:" in start[0] and "flow-meter (tuf-2000m on rs485-1)" in start[0]
    assert "uplinks: county (mqtt)" in start[0]
    assert re.search(r"wellgate stopped: \d+ records in \d+ blocks committed this run", log), log
    # -v gives INFO: the meter coming online is not in the default log, nor is DEBUG
    assert "is online" not in log and " DEBUG " not in log, log


def test_v_is_info_and_vv_is_debug(site):
    info = run_for(site, 1.0, "-v")
    assert "is online" in info and " DEBUG " not in info, info
    debug = run_for(site, 1.0, "-vv")
    assert " DEBUG " in debug, debug[-2000:]
    assert PASSWORD not in info + debug


def test_under_journald_each_line_has_its_priority_and_no_timestamp(site):
    log = run_for(site, 1.0, "-v", env={"JOURNAL_STREAM": "8:12345"})
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines and all(re.match(r"<[2-7]>[\w.]+: ", line) for line in lines), log
    assert any(line.startswith("<6>wellgate: wellgate ") and "starting:" in line
               for line in lines), log
    assert not any(re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line) for line in lines), log
