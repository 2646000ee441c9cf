"""`wellgate run` under a fake systemd (issue 13, the unit): real processes, the simulated well
on ptys, NOTIFY_SOCKET a Unix datagram socket bound here, WATCHDOG_USEC=2000000.

READY=1 comes once the store is open and the bus has started; WATCHDOG=1 every second; a meter
that goes silent (the simulator stopped with SIGSTOP: every read times out) is not a hang, so the
watchdog keeps coming; SIGTERM sends STOPPING=1 and exits 0. A hang of the bus loop or of the
writer thread cannot be caused from outside the process: tests/test_notify.py makes both in
process and shows the WATCHDOG messages stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from notify_support import FakeSystemd, gaps

WELLGATE = [sys.executable, "-m", "gateway"]
CONFIG = textwrap.dedent("""
    [well]
    id = "150602-0099"

    [gateway]
    runtime_dir = "{folder}/run"
    state_dir = "{folder}/state"

    [store]
    commit_interval = 0.3

    [[buses]]
    name = "rs485-1"
    type = "rtu"
    port = "{links}/rs485-1"
    timeout = 0.2
    retries = 0

    [[devices]]
    name = "flow-meter"
    bus = "rs485-1"
    model = "tuf-2000m"
    slave_id = 1
    poll_interval = 0.3
    points = ["flow_rate", "forward_total"]
    """)


def _start(tmp_path):
    links = tmp_path / "by-id"
    links.mkdir()
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG.format(folder=tmp_path, links=links))
    simulator = subprocess.Popen(
        [sys.executable, "-m", "gateway.simulator", "--config", str(config),
         "--link-dir", str(links)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    json.loads(simulator.stdout.readline())  # its ready line: the lines exist
    init = subprocess.run([*WELLGATE, "init", "--config", str(config)],
                          capture_output=True, text=True, timeout=30)
    assert init.returncode == 0, init.stderr
    return config, simulator


def _stop(gateway, simulator):
    if gateway is not None and gateway.poll() is None:
        gateway.kill()
    simulator.send_signal(signal.SIGCONT)
    simulator.send_signal(signal.SIGTERM)
    simulator.wait(10)


def test_ready_then_watchdog_every_second_a_silent_meter_is_no_hang_then_stopping(tmp_path):
    config, simulator = _start(tmp_path)
    systemd = FakeSystemd(tmp_path / "notify.sock")
    gateway = None
    try:
        env = {**os.environ, "NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "2000000"}
        env.pop("WATCHDOG_PID", None)
        started = time.monotonic()
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = systemd.wait_for("READY=1", 30)
        status = next(text for _, text in systemd.messages if "READY=1" in text)
        assert "STATUS=polling 1 bus(es), 1 device(s)" in status, status
        time.sleep(6.0)
        watchdog = systemd.times("WATCHDOG=1")
        assert watchdog and watchdog[0] >= ready  # never before READY=1
        rate = gaps(watchdog)
        print(f"READY=1 {ready - started:.2f} s after the start; WATCHDOG=1 every "
              f"{sum(rate) / len(rate):.2f} s (min {min(rate):.2f}, max {max(rate):.2f})")
        assert len(watchdog) >= 5
        assert 0.8 < sum(rate) / len(rate) < 1.3 and max(rate) < 1.8, rate

        simulator.send_signal(signal.SIGSTOP)  # the meter says nothing: every read times out
        silent_from = time.monotonic()
        time.sleep(5.0)
        simulator.send_signal(signal.SIGCONT)
        during = systemd.times("WATCHDOG=1", after=silent_from)
        assert len(during) >= 4 and max(gaps([silent_from, *during])) < 1.8, during
        assert not any(text.startswith("STATUS=stalled") for _, text in systemd.messages)

        gateway.send_signal(signal.SIGTERM)
        _, stderr = gateway.communicate(timeout=20)
        assert gateway.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
        stopping = systemd.wait_for("STOPPING=1", 5)
        assert stopping > watchdog[-1]
    finally:
        systemd.close()
        _stop(gateway, simulator)


def test_a_notify_socket_nobody_listens_on_is_logged_once_and_the_gateway_runs(tmp_path):
    config, simulator = _start(tmp_path)
    gateway = None
    try:
        env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "nobody.sock"),
               "WATCHDOG_USEC": "2000000"}
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4.0)
        assert gateway.poll() is None
        gateway.send_signal(signal.SIGTERM)
        _, stderr = gateway.communicate(timeout=20)
        assert gateway.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
        assert stderr.count("cannot notify systemd") == 1, stderr
    finally:
        _stop(gateway, simulator)


def _fields(text: str) -> dict[str, str]:
    return dict(line.partition("=")[::2] for line in text.split("\n"))


def test_sighup_says_reloading_then_ready_and_a_refused_config_says_so(tmp_path):
    """systemd's reload protocol: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, µs) as the
    reload starts, READY=1 when it is done; a config refused still ends with READY=1, its
    STATUS saying it was refused."""
    config, simulator = _start(tmp_path)
    systemd = FakeSystemd(tmp_path / "notify.sock")
    gateway = None
    try:
        env = {**os.environ, "NOTIFY_SOCKET": systemd.address}
        env.pop("WATCHDOG_USEC", None)
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        systemd.wait_for("READY=1", 30)
        text = config.read_text()
        config.write_text(text.replace("poll_interval = 0.3", "poll_interval = 0.4"))
        asked = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        gateway.send_signal(signal.SIGHUP)
        reloading = systemd.wait_for("RELOADING=1", 20)
        ready = systemd.wait_for("READY=1", 20, after=reloading)
        message = next(text for at, text in systemd.messages if at == reloading)
        usec = int(_fields(message)["MONOTONIC_USEC"])
        assert asked <= usec <= int(reloading * 1_000_000), (asked, usec, reloading)
        done = _fields(next(text for at, text in systemd.messages if at == ready))
        assert done["STATUS"].startswith("polling 1 bus(es), 1 device(s)"), done

        config.write_text(text.replace("poll_interval = 0.3", "poll_interval = -1"))
        gateway.send_signal(signal.SIGHUP)
        again = systemd.wait_for("RELOADING=1", 20, after=ready + 1e-6)
        refused_at = systemd.wait_for("READY=1", 20, after=again)
        refused = _fields(next(text for at, text in systemd.messages if at == refused_at))
        assert "refused" in refused["STATUS"] and "polling" in refused["STATUS"], refused
        assert gateway.poll() is None

        gateway.send_signal(signal.SIGTERM)
        _, stderr = gateway.communicate(timeout=20)
        assert gateway.returncode == 0, stderr
        assert "reload of" in stderr and "refused" in stderr, stderr
        print(f"RELOADING=1 {reloading - asked / 1e6:.3f} s after SIGHUP, READY=1 "
              f"{ready - reloading:.3f} s later")
    finally:
        systemd.close()
        _stop(gateway, simulator)
