"""`wellgate run` with [well.accounting] as a real process against the simulator process: SIGKILL
it mid-accounting, start it again, and the store's totals equal those of an engine that never
stopped, over the very same stored readings; nothing counted twice, nothing lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from itertools import pairwise

import pytest
from accounting_support import stored, write_site

from gateway.accounting.engine import AccountingEngine
from gateway.accounting.plan import build_plan
from gateway.config import load_config
from gateway.store import load_public_key, open_reader, verify_store

WELLGATE = [sys.executable, "-m", "gateway"]


class Simulator:
    """`python -m gateway.simulator` on a config; its ports come back as one JSON line."""

    def __init__(self, config_path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.simulator", "--config", str(config_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = json.loads(self.process.stdout.readline())

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


def checkpoints(state_dir) -> int:
    try:
        conn = open_reader(state_dir / "wellgate.db")
    except FileNotFoundError:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM records WHERE kind = 'accounting'").fetchone()[0]
    except Exception:
        return 0
    finally:
        conn.close()


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s")


@pytest.fixture
def simulated_site(tmp_path):
    simulator = Simulator(write_site(tmp_path, name="simulated.toml"))
    config = write_site(tmp_path, port=simulator.ready["lines"]["rs485-1"], poll=0.5, interval=10)
    yield config
    simulator.stop()


def test_sigkill_mid_accounting_then_restart_totals_equal_an_uninterrupted_run(simulated_site):
    config_path = simulated_site
    config = load_config(config_path)
    state = config_path.parent / "state"
    subprocess.run([*WELLGATE, "init", "--config", str(config_path)], check=True,
                   capture_output=True, timeout=30)
    started = time.monotonic()
    gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: checkpoints(state) >= 3, 40, "three checkpoints")
        time.sleep(1.3)  # somewhere inside the next interval, between commits
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(timeout=10)
        before = checkpoints(state)
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config_path)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: checkpoints(state) >= before + 3, 40, "three more checkpoints")
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=15) == 0
        assert "Traceback" not in gateway.stderr.read()
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
    records = stored(state)
    conn = open_reader(state / "wellgate.db")
    assert verify_store(conn, load_public_key(state / "gateway.pub")).ok
    conn.close()
    assert len({r.boot for r in records if r.kind == "reading"}) == 2  # two runs of the gateway

    engine = AccountingEngine(build_plan(config))  # one that never stopped, same readings
    made = []
    for record in records:
        engine.process(record)
        made += engine.take_group()
    engine.close_partial()
    made += engine.take_group()

    def total(items, kind, point=None):
        return sum(r.value for r in items if r.kind == kind and (point is None
                                                                  or r.point == point))

    for kind, point in (("volume", "metered"), ("volume", "derived"), ("energy", None)):
        kept, expected = total(records, kind, point), total(made, kind, point)
        assert kept == pytest.approx(expected, rel=1e-9), (kind, point)
        assert kept > 0
    metered = sorted(tuple(r.data["seqs"]) for r in records
                     if r.kind == "volume" and r.point == "metered")
    assert all(a[1] < b[0] for a, b in pairwise(metered))  # no reading counted twice
    readings = [r for r in records if r.kind == "reading" and r.point == "forward_total"]
    assert metered[0][0] == readings[1].seq and metered[-1][1] == readings[-1].seq
    assert total(records, "volume", "metered") == pytest.approx(
        readings[-1].value - readings[0].value, abs=1e-6)  # every m³ between first and last
    assert time.monotonic() - started < 90
