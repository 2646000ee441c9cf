"""`wellgate init`, `run` into the store, `verify`, `export` and the demo's store, as an installer
and the platform use them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner
from store_support import synthetic_reading

from gateway.cli import cli
from gateway.config import load_config
from gateway.simulator import SimulatedWell, ThreadRunner
from gateway.store import StoreWriter, chain, create_key, load_private_key, open_reader
from gateway.store.keys import raw_public_key
from gateway.store.records import from_reading
from gateway.store.schema import DB_FILE

WELLGATE = [sys.executable, "-m", "gateway"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def wellgate(*args, timeout=60):
    return subprocess.run([*WELLGATE, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


# --- init ---------------------------------------------------------------------------------------

def test_init_makes_a_private_folder_and_key_and_prints_only_the_public_key(tmp_path):
    state = tmp_path / "var" / "wellgate"
    done = invoke("init", "--state-dir", state)
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE((state / "gateway.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    public_pem = (state / "gateway.pub").read_text()
    assert public_pem in done.output
    key = load_private_key(state)
    expected = "SHA256:" + hashlib.sha256(raw_public_key(key.public_key())).hexdigest()
    assert expected in done.output
    digits = expected.removeprefix("SHA256:")
    assert " ".join(digits[i:i + 4] for i in range(0, 32, 4)) in done.output  # read aloud
    private_body = "".join((state / "gateway.key").read_text().splitlines()[1:-1])
    assert private_body not in done.output.replace("\n", "")


def test_init_refuses_to_replace_a_key(tmp_path):
    state = tmp_path / "state"
    assert invoke("init", "--state-dir", state).exit_code == 0
    before = (state / "gateway.key").read_bytes()
    done = invoke("init", "--state-dir", state)
    assert done.exit_code == 1
    assert "already exists" in done.output and "orphan every signature" in done.output
    assert (state / "gateway.key").read_bytes() == before


def test_init_after_a_crash_in_an_earlier_init_starts_clean(tmp_path):
    """A crash can leave a temporary key file (never gateway.key half-written) or a public key
    without its private key; the next init replaces both."""
    state = tmp_path / "state"
    state.mkdir()
    (state / ".gateway.key.0badf00d.tmp").write_bytes(b"-----BEGIN PRIVATE KEY-----\nMC4")
    (state / "gateway.pub").write_text("a public key whose private key was never linked")
    done = invoke("init", "--state-dir", state)
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in state.iterdir()) == ["gateway.key", "gateway.pub"]
    assert (state / "gateway.pub").read_text() in done.output
    load_private_key(state)


def test_init_takes_the_state_dir_from_the_config(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(textwrap.dedent(f"""
        [well]
        id = "w1"
        [gateway]
        state_dir = "{tmp_path / 'from-config'}"
        [[buses]]
        name = "rs485-1"
        type = "rtu"
        port = "/dev/ttyUSB0"
        [[devices]]
        name = "flow-meter"
        bus = "rs485-1"
        model = "tuf-2000m"
        slave_id = 1
        """))
    assert invoke("init", "--config", config).exit_code == 0
    assert (tmp_path / "from-config" / "gateway.key").is_file()


@pytest.mark.parametrize("args", [[], ["--config", "x.toml", "--state-dir", "d"]])
def test_init_wants_exactly_one_of_config_and_state_dir(args):
    done = invoke("init", *args)
    assert done.exit_code == 2 and "either --config FILE or --state-dir DIR" in done.output


def test_run_without_a_key_exits_2_saying_to_run_init(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(SITE.format(state_dir=tmp_path / "state", runtime_dir=tmp_path,
                                  port="/dev/ttyUSB0", port_645="/dev/ttyUSB1"))
    done = wellgate("run", "--config", config)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"no gateway key in {tmp_path / 'state'}: run "
                                   f"`wellgate init --config {config}` first")
    assert not (tmp_path / "state").exists()


# --- run, verify and export against the simulated well -------------------------------------------

SITE = """
[well]
id = "150602-0099"
[gateway]
runtime_dir = "{runtime_dir}"
state_dir = "{state_dir}"
[store]
commit_interval = 0.5
[[buses]]
name = "rs485-1"
type = "rtu"
port = "{port}"
timeout = 0.2
[[buses]]
name = "meter-645"
type = "dlt645"
port = "{port_645}"
timeout = 0.3
[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = 0.5
[[devices]]
name = "pump-energy"
bus = "rs485-1"
model = "chint-dtsu666"
slave_id = 2
poll_interval = 0.5
[[devices]]
name = "grid-meter"
bus = "meter-645"
model = "dlt645-generic"
address = "000000000001"
poll_interval = 1.0
points = ["import_energy"]
"""
DEVICES = {"flow-meter", "pump-energy", "grid-meter"}


def test_run_stores_signed_readings_that_verify_and_export(tmp_path):
    placeholder = tmp_path / "placeholder.toml"
    placeholder.write_text(SITE.format(state_dir=tmp_path / "state", runtime_dir=tmp_path,
                                       port="/dev/ttyUSB0", port_645="/dev/ttyUSB1"))
    well = SimulatedWell.from_config(load_config(placeholder), seed=3, time_scale=60.0)
    with ThreadRunner(well) as runner:
        ports = runner.start()
        config = tmp_path / "site.toml"
        config.write_text(SITE.format(state_dir=tmp_path / "state", runtime_dir=tmp_path,
                                      port=ports["rs485-1"], port_645=ports["meter-645"]))
        assert wellgate("init", "--config", config).returncode == 0
        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            db = tmp_path / "state" / DB_FILE
            deadline = time.monotonic() + 20
            while True:  # until every device has committed readings
                assert time.monotonic() < deadline, "no readings of every device stored"
                time.sleep(0.3)
                if not db.exists():
                    continue
                conn = open_reader(db)
                try:
                    devices = {d for (d,) in conn.execute("SELECT DISTINCT device FROM records")}
                except sqlite3.OperationalError:  # the file is there, its schema not yet
                    devices = set()
                finally:
                    conn.close()
                if devices >= DEVICES:
                    break
            while_running = wellgate("verify", "--db", db)  # a reader beside the writer
            assert while_running.returncode == 0, while_running.stdout
            gateway.send_signal(signal.SIGTERM)
            assert gateway.wait(timeout=10) == 0
            assert "Traceback" not in gateway.stderr.read()
        finally:
            if gateway.poll() is None:
                gateway.kill()
                gateway.wait()
    health = json.loads((tmp_path / "health.json").read_text())
    done = wellgate("verify", "--db", db)
    assert done.returncode == 0, done.stdout
    total = int(re.search(r"OK: (\d+) records in \d+ blocks, seq 1\.\.(\d+)", done.stdout)[1])
    assert health["store"]["last_seq"] == total and health["store"]["write_failing"] is False
    exported = wellgate("export", "--db", db, "--format", "jsonl")
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["seq"] for r in records] == list(range(1, total + 1))
    assert {r["device"] for r in records} == DEVICES
    assert all(r["kind"] == "reading" and r["boot"] == 1 for r in records)


@pytest.fixture
def store(tmp_path):
    """500 synthetic readings in 5 blocks; returns the database path."""
    state = tmp_path / "state"
    create_key(state)
    writer = StoreWriter(state, load_private_key(state))
    for block in range(5):
        writer.append([from_reading(synthetic_reading(i))
                       for i in range(block * 100, (block + 1) * 100)])
    writer.close()
    return state / DB_FILE


def test_exported_jsonl_rebuilds_the_signed_chain(store):
    """What export writes is exactly what was signed: the platform can recompute every leaf
    and every block head from it."""
    done = invoke("export", "--db", store, "--format", "jsonl")
    assert done.exit_code == 0
    records = [json.loads(line) for line in done.output.splitlines()]
    assert [list(r) for r in records[:1]] == [list(chain.FIELDS)]
    conn = sqlite3.connect(store)
    blocks = conn.execute("SELECT first_seq, last_seq, prev_head, head FROM blocks").fetchall()
    conn.close()
    by_seq = {r["seq"]: r for r in records}
    for first, last, prev_head, head in blocks:
        running = prev_head
        for seq in range(first, last + 1):
            fields = [by_seq[seq][name] for name in chain.FIELDS]
            running = chain.chain_step(running, chain.leaf_hash(chain.canonical_bytes(fields)))
        assert running == head


def test_export_csv_has_a_header_one_row_per_record_and_people_s_time(store, tmp_path):
    out = tmp_path / "out.csv"
    done = invoke("export", "--db", store, "--format", "csv", "--since", "401", "-o", out)
    assert done.exit_code == 0, done.output
    assert "100 records written to" in done.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["seq", "kind", "device", "point", "value", "unit", "quality", "raw",
                             "wall_time", "time_utc", "mono_time", "boot", "data"]
    assert [int(r["seq"]) for r in rows] == list(range(401, 501))
    first = synthetic_reading(400)
    assert (rows[0]["device"], rows[0]["point"], rows[0]["unit"]) == (
        first.device, first.point, first.unit)
    assert json.loads(rows[0]["raw"]) == list(first.raw)
    assert rows[0]["time_utc"] == "2025-06-15T15:06:40.400000+00:00"  # BASE_WALL + 0.4 s


def test_export_since_an_iso_time_selects_by_wall_time(store):
    # synthetic reading i is at 2025-06-15T15:06:40 UTC + i ms; 23:06:40.450 in UTC+8 is i=450
    done = invoke("export", "--db", store, "--since", "2025-06-15T23:06:40.450+08:00")
    seqs = [json.loads(line)["seq"] for line in done.output.splitlines()]
    assert seqs == list(range(451, 501))


def test_a_bad_since_exits_2_and_says_what_is_expected(store):
    done = invoke("export", "--db", store, "--since", "yesterday")
    assert done.exit_code == 2
    assert "expected a seq number (e.g. 1200) or an ISO time" in done.output


@pytest.mark.parametrize("command", ["verify", "export"])
def test_a_file_that_is_not_a_store_exits_2(tmp_path, command):
    create_key(tmp_path)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    done = invoke(command, "--db", other)
    assert done.exit_code == 2 and "not a wellgate store" in done.output
    missing = invoke(command, "--db", tmp_path / "missing.db")
    assert missing.exit_code == 2 and "no store file" in missing.output


# --- the demo -----------------------------------------------------------------------------------

def test_the_demo_stores_and_verifies_live_and_keeps_the_store_when_asked(tmp_path):
    """Also what two shorter demo runs of their own showed (test_cli.py: every device online
    after 5 s; test_demo.py: --no-uplink says delivery is off): one run shows all three."""
    state = tmp_path / "demo-state"
    done = wellgate("demo", "--seconds", "6", "--state-dir", state, "--no-uplink", timeout=60)
    assert done.returncode == 0, done.stderr
    summary = re.findall(r"(\d+) of (\d+) devices online", done.stdout)
    assert summary, done.stdout[-2000:]
    online, total = map(int, summary[-1])
    assert online == total and total > 0
    assert "delivery: off (--no-uplink)" in done.stdout
    assert "local receiver" not in done.stdout
    last = [line for line in done.stdout.splitlines() if line.startswith("store ")][-1]
    match = re.search(r"(\d+) records stored this run; chain and signatures verified: "
                      r"(\d+) records in (\d+) blocks", last)
    assert match, done.stdout[-1500:]
    assert int(match[1]) == int(match[2]) > 0
    verified = wellgate("verify", "--db", state / DB_FILE)
    assert verified.returncode == 0
    assert f"OK: {match[2]} records in {match[3]} blocks" in verified.stdout


# The demo's removal of its temporary store: test_demo.py, on its 30 s run (one run fewer).
