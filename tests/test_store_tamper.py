"""Tamper evidence: a row changed, deleted or inserted with the real sqlite3 shell, or with Python's
sqlite3, makes `wellgate verify` exit 1 naming the first bad seq; a good store verifies."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from store_support import synthetic_reading

from gateway.cli import cli
from gateway.store import StoreWriter, create_key, load_private_key
from gateway.store.records import ROW_COLUMNS, Record, from_reading
from gateway.store.schema import DB_FILE

BLOCKS, PER_BLOCK = 3, 40  # seq 1..40, 41..80, 81..120
SQLITE3 = shutil.which("sqlite3")


@pytest.fixture
def store(tmp_path):
    """A good store of 120 readings in 3 blocks; returns the database path."""
    state = tmp_path / "state"
    create_key(state)
    writer = StoreWriter(state, load_private_key(state))
    for block in range(BLOCKS):
        writer.append([from_reading(synthetic_reading(i))
                       for i in range(block * PER_BLOCK, (block + 1) * PER_BLOCK)])
    writer.close()
    return state / DB_FILE


def verify(db, *options):
    result = CliRunner().invoke(cli, ["verify", "--db", str(db), *options])
    return result.exit_code, result.output


def leaf_of(db, seq: int) -> bytes:
    conn = sqlite3.connect(db)
    row = conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq = ?", (seq,)).fetchone()
    conn.close()
    return Record.from_row(row).computed_leaf()


def _altered_prefix(db) -> str:
    """SQL that changes seq 57's value and also fixes its leaf prefix to match (a careful
    forger): only the signed block head can catch it."""
    conn = sqlite3.connect(db)
    row = list(conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq = 57").fetchone())
    conn.close()
    row[4] = row[4] + 1000.0
    prefix = Record.from_row(row).computed_leaf()[:4].hex()
    return (f"UPDATE records SET value = value + 1000.0, leaf_prefix = X'{prefix}' "
            "WHERE seq = 57;")


def _tombstone_without_event(db) -> str:
    leaf = leaf_of(db, 57).hex()
    return ("UPDATE records SET kind = NULL, device = NULL, point = NULL, value = NULL, "
            "unit = NULL, quality = NULL, raw = NULL, wall_time = NULL, mono_time = NULL, "
            f"boot = NULL, data = NULL, leaf_prefix = NULL, leaf = X'{leaf}' WHERE seq = 57;")


@dataclass
class Tamper:
    name: str
    sql: object  # SQL text, or a function of the db path giving it
    bad_seq: int
    says: str

    def statement(self, db) -> str:
        return self.sql(db) if callable(self.sql) else self.sql


COPY_57_AS_121 = (f"INSERT INTO records ({ROW_COLUMNS}) SELECT 121, kind, device, point, value, "
                  "unit, quality, raw, wall_time, mono_time, boot, data, leaf_prefix, leaf "
                  "FROM records WHERE seq = 57;")
TAMPERS = [
    Tamper("change a value", "UPDATE records SET value = value + 1 WHERE seq = 57;", 57,
           "altered"),
    Tamper("change a time", "UPDATE records SET wall_time = wall_time - 3600 WHERE seq = 12;",
           12, "altered"),
    Tamper("change a quality", "UPDATE records SET quality = 'good' WHERE seq = 98;", 98,
           "altered"),  # seq 98 holds index 97: the one reading made 'uncertain'
    Tamper("change raw registers", "UPDATE records SET raw = X'0200000000000000ff' "
                                   "WHERE seq = 3;", 3, "altered"),
    Tamper("change a value and its leaf prefix", _altered_prefix, 41,
           "do not hash to its signed head"),
    Tamper("delete a record", "DELETE FROM records WHERE seq = 57;", 57, "missing"),
    Tamper("delete the newest record", "DELETE FROM records WHERE seq = 120;", 120, "missing"),
    Tamper("delete a run of records", "DELETE FROM records WHERE seq BETWEEN 30 AND 50;", 30,
           "missing"),
    Tamper("insert a record after the last block", COPY_57_AS_121, 121, "in no signed block"),
    Tamper("insert a record before the first", COPY_57_AS_121.replace("121", "0"), 0,
           "in no signed block"),
    Tamper("delete a block row", "DELETE FROM blocks WHERE block_no = 1;", 41,
           "block 1 is missing"),
    Tamper("delete the newest block and its records",
           "DELETE FROM records WHERE seq > 80; DELETE FROM blocks WHERE block_no = 2;", 81,
           "newest blocks were deleted"),
    Tamper("delete the oldest block and its records",
           "DELETE FROM records WHERE seq <= 40; DELETE FROM blocks WHERE block_no = 0;", 41,
           "no pruning event"),
    Tamper("change a block head",
           "UPDATE blocks SET head = (SELECT head FROM blocks WHERE block_no = 0) "
           "WHERE block_no = 1;", 41, "signature of block 1"),
    Tamper("change a block's prev_head",
           "UPDATE blocks SET prev_head = (SELECT head FROM blocks WHERE block_no = 1) "
           "WHERE block_no = 1;", 41, "does not continue the chain"),
    Tamper("swap two signatures",
           "UPDATE blocks SET signature = (SELECT signature FROM blocks WHERE block_no = 0) "
           "WHERE block_no = 2;", 81, "signature of block 2"),
    Tamper("make a record a tombstone with no thinning event", _tombstone_without_event, 57,
           "no later thinning event"),
]


def run_sqlite3_shell(db, sql: str) -> None:
    if SQLITE3 is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the sqlite3 shell is missing: .ci/run must install it (apt-get install "
                        "sqlite3); the tamper tests need the real tool")
        pytest.skip("no sqlite3 shell here (Debian: apt-get install sqlite3)")
    done = subprocess.run([SQLITE3, str(db), sql], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def run_python_sqlite3(db, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(sql)
    conn.commit()
    conn.close()


TOOLS = {"sqlite3-shell": run_sqlite3_shell, "python-sqlite3": run_python_sqlite3}


def test_a_good_store_verifies(store):
    code, output = verify(store)
    assert code == 0, output
    assert output.splitlines()[-1] == "OK: 120 records in 3 blocks, seq 1..120"
    assert f"public key {store.parent / 'gateway.pub'} (SHA256:" in output


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
def test_tampering_is_caught_at_the_first_bad_seq(store, tool, tamper):
    TOOLS[tool](store, tamper.statement(store))
    code, output = verify(store)
    assert code == 1, output
    last = output.splitlines()[-1]
    assert last.startswith(f"FAILED at seq {tamper.bad_seq}: "), last
    assert tamper.says in last, last


def test_the_wellgate_process_exits_1_on_a_tampered_store_and_0_on_a_good_one(store):
    command = [sys.executable, "-m", "gateway", "verify", "--db", str(store)]
    good = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "OK: 120 records" in good.stdout, good.stderr
    run_python_sqlite3(store, "UPDATE records SET device = 'other-meter' WHERE seq = 77;")
    bad = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stdout
    assert "FAILED at seq 77: " in bad.stdout and "Traceback" not in bad.stderr


def test_another_public_key_fails_at_the_first_block(store, tmp_path):
    create_key(tmp_path / "other")
    code, output = verify(store, "--pubkey", str(tmp_path / "other" / "gateway.pub"))
    assert code == 1
    assert output.splitlines()[-1].startswith("FAILED at seq 1: the signature of block 0")


def test_the_key_stored_in_the_database_is_not_trusted(store, tmp_path):
    """An attacker who re-signs the chain with a key of their own and puts that key into meta
    does not pass: verify uses gateway.pub, never meta.public_key."""
    other = tmp_path / "other"
    create_key(other)
    from gateway.store.keys import raw_public_key

    forged = raw_public_key(load_private_key(other).public_key())
    run_python_sqlite3(store, f"UPDATE meta SET value = X'{forged.hex()}' "
                              "WHERE key = 'public_key';")
    assert verify(store)[0] == 0  # meta is informational: the real blocks still verify
    (store.parent / "gateway.pub").write_bytes((other / "gateway.pub").read_bytes())
    code, output = verify(store, "--pubkey", str(other / "gateway.pub"))
    assert code == 1 and "FAILED at seq 1" in output


def test_verify_without_a_public_key_exits_2_and_says_how_to_give_one(store):
    (store.parent / "gateway.pub").unlink()
    code, output = verify(store)
    assert code == 2
    assert "no public key file" in output and "--pubkey" in output
