"""State files are the gateway's alone, whatever the umask; a readable config holding a secret is
warned about (issue 10, item 12).

Found this way: `wellgate init` and `wellgate run` under umask 022 left wellgate.db and
uplink.nonce at 0644, and a config holding an MQTT password at 0644 went unremarked. Here both
run under umask 022 as real processes (against the simulated well, delivering to an HTTPS
destination that is down, so that batches and their nonces are made), and every file's mode is
checked while the gateway runs and after it stopped; wider modes left by an older version are
narrowed at the next start, and said so.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from site_config import flow_meter, rtu_bus, site_toml
from uplink_support import make_tls, wait_until

from gateway.store.schema import DB_FILE

WELLGATE = [sys.executable, "-m", "gateway"]


def site_text(folder, port, *uplinks: dict) -> str:
    """Polling the flow meter's two points every 0.3 s, committed every 0.3 s."""
    return site_toml(folder, well="150602-0078", store={"commit_interval": 0.3},
                     buses=[rtu_bus(port, timeout=0.3, retries=0)],
                     devices=[flow_meter(poll_interval=0.3, points=["flow_rate", "forward_total"])],
                     uplinks=uplinks)


def https_down(folder) -> dict:
    """An HTTPS destination nothing listens at (port 9), retried quickly."""
    return {"name": "city", "type": "https", "url": "https://127.0.0.1:9/v1/batches",
            "ca_file": f"{folder}/tls/ca.pem", "batch_max_age": 0.5, "timeout": 1,
            "backoff_initial": 0.2, "backoff_max": 0.5}


def mqtt_with_password(folder) -> dict:
    return {"name": "county", "type": "mqtt", "host": "127.0.0.1", "port": 9,
            "username": "well-78", "password": "correct horse battery staple",
            "platform_key": f"{folder}/county-ack.pub"}


def umask_022() -> None:
    os.umask(0o022)


def modes(state) -> dict[str, int]:
    """Each file's mode; a file gone between the listing and its stat (a running gateway's
    temporary file, replaced onto its name) is left out: it was once a FileNotFoundError."""
    found = {".": stat.S_IMODE(state.stat().st_mode)}
    for path in state.iterdir():
        try:
            found[path.name] = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
    return found


def test_modes_leaves_out_a_file_gone_between_listing_and_stat(tmp_path):
    """Deterministically what a running gateway's `.store.json.<pid>.tmp` did under load: listed,
    then renamed away before its stat (here: a name whose target is gone)."""
    (tmp_path / "kept").write_text("")
    (tmp_path / "kept").chmod(0o600)
    (tmp_path / ".store.json.1.tmp").symlink_to(tmp_path / "renamed-away")
    assert modes(tmp_path) == {".": stat.S_IMODE(tmp_path.stat().st_mode), "kept": 0o600}


def start(config, log):
    return subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=log, preexec_fn=umask_022)


def stop(gateway) -> None:
    if gateway.poll() is None:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


@pytest.fixture
def well(tmp_path):
    placeholder = tmp_path / "simulated.toml"
    placeholder.write_text(site_text(tmp_path, "/dev/ttyUSB0"))
    simulator = subprocess.Popen([sys.executable, "-m", "gateway.simulator", "--config",
                                  str(placeholder)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    ready = json.loads(simulator.stdout.readline())
    try:
        yield ready["lines"]["rs485-1"]
    finally:
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)


def test_init_and_run_under_umask_022_leave_only_owner_readable_state(tmp_path, well):
    make_tls(tmp_path / "tls")
    config = tmp_path / "gateway.toml"
    config.write_text(site_text(tmp_path, well, https_down(tmp_path)))
    state = tmp_path / "state"
    init = subprocess.run([*WELLGATE, "init", "--config", str(config)], capture_output=True,
                          text=True, timeout=60, preexec_fn=umask_022)
    assert init.returncode == 0, init.stderr
    assert all(mode & 0o077 == 0 for mode in modes(state).values()), modes(state)

    log = open(tmp_path / "run.log", "w")  # noqa: SIM115
    gateway = start(config, log)
    try:
        wait_until(lambda: (state / "uplink.nonce").exists()
                   and (state / (DB_FILE + "-wal")).exists(), 30, "a batch made while running")
        running = modes(state)
    finally:
        stop(gateway)
    assert running["."] == 0o700, running
    for name in (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", "gateway.key", "gateway.pub",
                 "uplink.nonce"):
        assert running.get(name) == 0o600, (name, running)
    assert all(mode == 0o600 for name, mode in running.items() if name != "."), running
    stopped = modes(state)
    assert all(mode == (0o700 if name == "." else 0o600) for name, mode in stopped.items()), \
        stopped

    # files and folder left wider (by an older version, or by hand) are narrowed at the start
    state.chmod(0o755)
    for name in (DB_FILE, "uplink.nonce", "gateway.pub"):
        (state / name).chmod(0o644)
    gateway = start(config, log)
    try:
        wait_until(lambda: modes(state)[DB_FILE] == 0o600
                   and modes(state)["uplink.nonce"] == 0o600, 30, "modes narrowed")
        time.sleep(0.5)
    finally:
        stop(gateway)
        log.close()
    assert all(mode == (0o700 if name == "." else 0o600)
               for name, mode in modes(state).items()), modes(state)
    text = (tmp_path / "run.log").read_text()
    assert f"{state / DB_FILE} was mode 0644; now 0600" in text, text[-2000:]
    assert f"{state} was mode 0755; now 0700" in text, text[-2000:]


def test_a_config_holding_a_password_readable_by_others_is_warned_about(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(site_text(tmp_path, "/dev/ttyUSB9", mqtt_with_password(tmp_path)))
    config.chmod(0o644)
    checked = subprocess.run([*WELLGATE, "check-config", str(config)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    warning = (f"warning: {config} holds a secret (uplinks[0].password) and is readable by "
               "group and others (mode 0644)")
    assert warning in checked.stdout + checked.stderr, checked
    assert "correct horse" not in checked.stdout + checked.stderr

    # `wellgate run` logs it as a WARNING at its start
    subprocess.run([*WELLGATE, "init", "--config", str(config)], check=True, capture_output=True)
    (tmp_path / "county-ack.pub").write_bytes((tmp_path / "state" / "gateway.pub").read_bytes())
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        gateway = start(config, log)
        try:
            wait_until(lambda: "holds a secret" in log_path.read_text(), 20, "the warning")
        finally:
            gateway.kill()
            gateway.wait()
    text = log_path.read_text()
    assert "WARNING" in text and "holds a secret (uplinks[0].password)" in text, text
    assert "correct horse" not in text

    config.chmod(0o600)
    quiet = subprocess.run([*WELLGATE, "check-config", str(config)], capture_output=True,
                           text=True, timeout=60)
    assert quiet.returncode == 0 and "warning" not in (quiet.stdout + quiet.stderr).lower(), quiet
