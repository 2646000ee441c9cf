"""`wellgate run` with an [[uplinks]] destination, as a real process against the simulated well
and the real receiver: readings are polled, stored, delivered, and `wellgate status` shows it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from site_config import flow_meter, rtu_bus, site_toml
from uplink_support import HttpsReceiver, make_tls, wait_until

from gateway.platform.audit import audit_gateway
from gateway.store import load_public_key
from gateway.store.schema import open_reader

WELLGATE = [sys.executable, "-m", "gateway"]
WELL = "150602-0042"


def site_text(folder, port, url: str) -> str:
    """Polling the flow meter every 0.5 s and delivering to the receiver at `url`."""
    city = {"name": "city", "type": "https", "url": url, "ca_file": "tls/ca.pem",
            "batch_max_age": 1, "timeout": 5, "backoff_initial": 0.2, "backoff_max": 1}
    return site_toml(folder, well=WELL, store={"commit_interval": 0.5},
                     buses=[rtu_bus(port, timeout=0.3, retries=0)],
                     devices=[flow_meter(poll_interval=0.5)], uplinks=[city])


def wellgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*WELLGATE, *args], capture_output=True, text=True, timeout=30)


def test_run_delivers_while_polling_and_status_shows_it(tmp_path):
    tls = make_tls(tmp_path / "tls")
    placeholder = tmp_path / "simulated.toml"
    placeholder.write_text(site_text(tmp_path, "/dev/ttyUSB0", "https://127.0.0.1/v1/batches"))
    simulator = subprocess.Popen([sys.executable, "-m", "gateway.simulator", "--config",
                                  str(placeholder)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    ready = json.loads(simulator.stdout.readline())
    receiver = None
    gateway = None
    try:
        init = wellgate("init", "--state-dir", str(tmp_path / "state"))
        assert init.returncode == 0, init.stderr
        key = load_public_key(tmp_path / "state" / "gateway.pub")
        receiver = HttpsReceiver(tmp_path / "platform.db", {WELL: key}, tls)
        receiver.start()
        config = tmp_path / "gateway.toml"
        config.write_text(site_text(tmp_path, ready["lines"]["rs485-1"], receiver.url))
        before = json.loads(wellgate("status", "--config", str(config), "--json").stdout)
        assert before[0]["name"] == "city" and before[0]["state"] == "not running"

        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        conn = receiver.receiver.conn
        wait_until(lambda: conn.execute("SELECT count(*) FROM records").fetchone()[0] >= 20,
                   40, "readings delivered while polling")
        wait_until(lambda: (tmp_path / "run" / "uplink.json").exists(), 10, "uplink status")
        rows = json.loads(wellgate("status", "--config", str(config), "--json").stdout)
        assert rows[0]["last_success"] is not None and rows[0]["acked_seq"] > 0
        text = wellgate("status", "--config", str(config)).stdout
        assert text.splitlines()[1].startswith("city ")

        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(20) == 0, gateway.stderr.read()
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)
        if receiver is not None:
            receiver.stop()
    audit = audit_gateway(receiver.receiver.conn, WELL, key)
    assert audit.ok and audit.first_seq == 1, audit.problem
    # What arrived is the store's beginning, exactly.
    store = open_reader(tmp_path / "state" / "wellgate.db")
    mine = store.execute("SELECT seq, device, point, value, raw FROM records WHERE seq <= ? "
                         "ORDER BY seq", (audit.last_seq,)).fetchall()
    theirs = receiver.receiver.conn.execute("SELECT seq, device, point, value, raw FROM records "
                                            "ORDER BY seq").fetchall()
    assert theirs == mine
    after = json.loads(wellgate("status", "--config", str(config), "--json").stdout)[0]
    assert after["state"] == "stopped"
    assert after["backlog_records"] == after["last_seq"] - after["acked_seq"]
    receiver.close()
