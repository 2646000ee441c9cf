"""A store that existed and is now empty or unreadable is refused, not silently restarted at seq
1 under the same key (issue 10, item 10).

Found this way: `wellgate init`, `wellgate run` against the simulated well, SIGTERM, truncate
wellgate.db to 0 bytes (what a power cut on ext4 can leave), remove -wal/-shm, `wellgate run`
again: it started a new chain at seq 1 with no warning. Now that run exits 3 naming the file,
and only `wellgate init --new-chain` starts a new chain, whose first record (a signed
`new_chain` store_event) says why and where the old chain ended.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys

import pytest
from site_config import flow_meter, rtu_bus, site_toml
from store_support import synthetic_reading
from uplink_support import wait_until

from gateway.store import StoreWriter, load_private_key
from gateway.store.records import from_reading
from gateway.store.schema import DB_FILE, open_reader
from gateway.uplink.nonce import NONCE_FILE

WELLGATE = [sys.executable, "-m", "gateway"]
EXIT_STORE_LOST = 3
MARKER_FILE = "store.json"  # gateway.store.lost.MARKER_FILE


def site_text(folder, port) -> str:
    """Polling the flow meter's two points every 0.3 s, committed every 0.3 s."""
    return site_toml(folder, well="150602-0077", store={"commit_interval": 0.3},
                     buses=[rtu_bus(port, timeout=0.3, retries=0)],
                     devices=[flow_meter(poll_interval=0.3, points=["flow_rate", "forward_total"])])


def wellgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*WELLGATE, *args], capture_output=True, text=True, timeout=60)


def records(state) -> int:
    try:
        conn = open_reader(state / DB_FILE)
    except FileNotFoundError:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # made, its schema not yet committed
        return 0
    finally:
        conn.close()


def run_until(config, state, count: int) -> None:
    """`wellgate run` until `count` records are stored, then SIGTERM (a clean stop)."""
    before = records(state)
    gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: gateway.poll() is not None or records(state) >= before + count, 30,
                   "readings stored")
        assert gateway.poll() is None, gateway.communicate()[1]
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(20) == 0, gateway.stderr.read()
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()


@pytest.fixture
def site(tmp_path):
    """The simulated well's process and a gateway config polling it."""
    placeholder = tmp_path / "simulated.toml"
    placeholder.write_text(site_text(tmp_path, "/dev/ttyUSB0"))
    simulator = subprocess.Popen([sys.executable, "-m", "gateway.simulator", "--config",
                                  str(placeholder)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
    ready = json.loads(simulator.stdout.readline())
    config = tmp_path / "gateway.toml"
    config.write_text(site_text(tmp_path, ready["lines"]["rs485-1"]))
    try:
        yield config, tmp_path / "state"
    finally:
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)


def test_a_truncated_store_is_refused_and_a_new_chain_needs_init_new_chain(site):
    config, state = site
    assert wellgate("init", "--config", str(config)).returncode == 0
    run_until(config, state, 10)
    conn = open_reader(state / DB_FILE)
    old_next_seq = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0]
    conn.close()
    assert old_next_seq > 10

    # the power cut: the database file is there but empty, its WAL and index gone
    with open(state / DB_FILE, "r+b") as handle:
        handle.truncate(0)
    for suffix in ("-wal", "-shm"):
        (state / (DB_FILE + suffix)).unlink(missing_ok=True)

    refused = subprocess.run([*WELLGATE, "run", "--config", str(config)], capture_output=True,
                             text=True, timeout=20)
    assert refused.returncode == EXIT_STORE_LOST, refused.stderr
    assert "Traceback" not in refused.stderr
    message = refused.stderr
    assert str(state / DB_FILE) in message and "0 bytes" in message, message
    assert f"seq {old_next_seq}" in message, message  # where the old chain ended
    assert "wellgate init --new-chain" in message, message
    assert (state / DB_FILE).stat().st_size == 0  # nothing was started over it

    # knowingly starting again: the old file is kept aside, the new chain says why
    again = wellgate("init", "--new-chain", "--config", str(config))
    assert again.returncode == 0, again.stderr
    kept = sorted(state.glob(DB_FILE + ".lost-*"))
    assert [path.stat().st_size for path in kept] == [0], kept
    assert str(kept[0]) in again.stdout
    assert wellgate("init", "--new-chain", "--config", str(config)).returncode == 1  # not twice
    run_until(config, state, 5)

    conn = open_reader(state / DB_FILE)
    kind, device, point, data = conn.execute(
        "SELECT kind, device, point, data FROM records WHERE seq = 1").fetchone()
    conn.close()
    assert (kind, device, point) == ("store_event", "store", "new_chain")
    event = json.loads(data)
    assert event["previous_next_seq"] == old_next_seq
    assert event["old_store"]["state"] == "empty (0 bytes)"
    assert event["old_store"]["moved_to"] == str(kept[0])
    assert MARKER_FILE in event["evidence"]
    checked = wellgate("verify", "--db", str(state / DB_FILE))
    assert checked.returncode == 0 and checked.stdout.splitlines()[-1].startswith("OK:"), checked


def test_an_unreadable_store_is_refused_with_the_same_exit_code(site):
    config, state = site
    assert wellgate("init", "--config", str(config)).returncode == 0
    run_until(config, state, 3)
    (state / DB_FILE).write_bytes(b"\0" * 8192)  # zeroed pages: a card that lost its blocks
    refused = subprocess.run([*WELLGATE, "run", "--config", str(config)], capture_output=True,
                             text=True, timeout=20)
    assert refused.returncode == EXIT_STORE_LOST, refused.stderr
    assert "not a readable SQLite database" in refused.stderr and "Traceback" not in refused.stderr
    assert (state / DB_FILE).read_bytes() == b"\0" * 8192


def test_what_counts_as_a_store_that_existed(tmp_path):
    from gateway.store import create_key
    from gateway.store.lost import StoreLost

    state = tmp_path / "state"
    create_key(state)
    key = load_private_key(state)
    # the key alone does not: `init` makes it before the first `run` makes the store
    StoreWriter(state, key).close()
    for name in (DB_FILE, MARKER_FILE):
        (state / name).unlink()
    # a nonce file does (batches were made from it), even without the marker (an older store)
    (state / NONCE_FILE).write_text("1025\n")
    with pytest.raises(StoreLost, match="no database file"):
        StoreWriter(state, key)
    assert not (state / DB_FILE).exists()
    (state / NONCE_FILE).unlink()
    StoreWriter(state, key).close()  # nothing shows a store: a first start
    # a store cut back below the seq the marker saw is refused too
    writer = StoreWriter(state, key)
    writer.append([from_reading(synthetic_reading(i)) for i in range(5)])
    writer.close()
    marker = json.loads((state / MARKER_FILE).read_text())
    assert marker["next_seq"] == 6
    marker["next_seq"] = 50
    (state / MARKER_FILE).write_text(json.dumps(marker))
    with pytest.raises(StoreLost, match="next_seq is 6"):
        StoreWriter(state, key)
