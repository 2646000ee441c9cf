"""The store's writer: schema and pragmas, seq and chain across restarts, one transaction per
block (a reader never sees half a batch, and never makes the writer fail), migrations."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlite_utils.migrations import Migrations
from store_support import matches, stored, synthetic_reading, verified

from gateway.store import StoreError, StoreWriter, create_key, load_private_key, open_reader
from gateway.store import migrations as store_migrations
from gateway.store.export import export_records
from gateway.store.records import from_reading
from gateway.store.schema import DB_FILE, SCHEMA, applied_migrations
from gateway.store.verify import verify_store


@pytest.fixture
def state_dir(tmp_path):
    folder = tmp_path / "state"
    create_key(folder)
    return folder


def entries(first: int, count: int):
    return [from_reading(synthetic_reading(i)) for i in range(first, first + count)]






def test_a_new_store_is_wal_synchronous_full_and_migrated(state_dir):
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    try:
        conn = writer.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert applied_migrations(conn) == ["m001_records_blocks_meta_deliveries"]
        assert applied_migrations(conn) == list(SCHEMA)  # what a writer open checks for
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        assert meta["next_seq"] == 1 and meta["boot"] == 1 == writer.boot
        assert meta["chain"] == "wellgate-block-v1" and len(meta["public_key"]) == 32
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master "
                                                   "WHERE type = 'table'")}
        assert {"records", "blocks", "meta", "deliveries", "_sqlite_migrations"} <= tables
    finally:
        writer.close()
    assert verified(state_dir).summary() == "OK: 0 records in 0 blocks (an empty store)"


def test_a_block_holds_its_batch_and_the_records_read_back_unchanged(state_dir):
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    first = writer.append(entries(0, 100))
    second = writer.append(entries(100, 50))
    writer.close()
    assert (first.block_no, first.first_seq, first.last_seq, first.count) == (0, 1, 100, 100)
    assert (second.block_no, second.first_seq, second.last_seq) == (1, 101, 150)
    assert second.prev_head == first.head
    records = stored(state_dir)
    assert [r.seq for r in records] == list(range(1, 151))
    assert all(matches(r) and r.boot == 1 for r in records)
    assert verified(state_dir).summary() == "OK: 150 records in 2 blocks, seq 1..150"


def test_restart_continues_seq_chain_and_counts_boots(state_dir):
    key = load_private_key(state_dir)
    for run in range(3):
        writer = StoreWriter(state_dir, key)
        assert writer.boot == run + 1
        writer.append(entries(run * 10, 10))
        writer.close()
    records = stored(state_dir)
    assert [r.seq for r in records] == list(range(1, 31))
    assert [r.boot for r in records] == [1] * 10 + [2] * 10 + [3] * 10
    assert verified(state_dir).ok


def test_a_failed_commit_leaves_nothing_and_the_next_one_takes_the_same_seq(state_dir):
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    writer.append(entries(0, 5))
    bad = entries(5, 3)
    bad[2] = bad[2]._replace(value=float("nan"))
    with pytest.raises(ValueError):  # NaN has no canonical JSON form
        writer.append(bad)
    assert not writer.conn.in_transaction
    block = writer.append(entries(5, 3))
    writer.close()
    assert (block.first_seq, block.last_seq) == (6, 8)
    assert verified(state_dir).summary() == "OK: 8 records in 2 blocks, seq 1..8"


def test_a_store_signed_with_another_key_is_refused(state_dir, tmp_path):
    StoreWriter(state_dir, load_private_key(state_dir)).close()
    other = tmp_path / "other"
    create_key(other)
    with pytest.raises(StoreError, match="signed with another key"):
        StoreWriter(state_dir, load_private_key(other))


def test_a_file_that_is_not_a_database_is_refused_not_replaced(state_dir):
    (state_dir / DB_FILE).write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match="not a readable SQLite database"):
        StoreWriter(state_dir, load_private_key(state_dir))
    assert (state_dir / DB_FILE).read_bytes().startswith(b"this is not SQLite")


def test_opening_an_old_database_applies_a_later_migration_and_keeps_the_data(state_dir):
    key = load_private_key(state_dir)
    version_1 = Migrations("wellgate")
    version_1()(store_migrations.m001_records_blocks_meta_deliveries)
    writer = StoreWriter(state_dir, key, migrations=version_1)
    writer.append(entries(0, 20))
    writer.close()

    version_2 = Migrations("wellgate")
    version_2()(store_migrations.m001_records_blocks_meta_deliveries)

    @version_2()
    def m002_calibrations(db):
        db.execute("CREATE TABLE calibrations (id INTEGER PRIMARY KEY, coefficient REAL)")
        db.execute("ALTER TABLE deliveries ADD COLUMN last_error TEXT")

    writer = StoreWriter(state_dir, key, migrations=version_2)
    writer.append(entries(20, 5))
    assert applied_migrations(writer.conn) == ["m001_records_blocks_meta_deliveries",
                                               "m002_calibrations"]
    columns = [row[1] for row in writer.conn.execute("PRAGMA table_info(deliveries)")]
    assert columns[-1] == "last_error"
    writer.close()
    records = stored(state_dir)
    assert [r.seq for r in records] == list(range(1, 26)) and all(map(matches, records))
    assert verified(state_dir).summary() == "OK: 25 records in 2 blocks, seq 1..25"
    # and the current code opens the upgraded file (an unknown later migration is left alone)
    StoreWriter(state_dir, key).close()


def test_a_database_that_lacks_a_migration_named_in_schema_is_migrated_at_open(state_dir,
                                                                             monkeypatch):
    key = load_private_key(state_dir)
    writer = StoreWriter(state_dir, key)  # the schema as shipped: m001
    writer.append(entries(0, 10))
    writer.close()
    later = Migrations("wellgate")
    later()(store_migrations.m001_records_blocks_meta_deliveries)

    @later()
    def m002_notes(db):
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")

    # the code of a later release: its SCHEMA names m002, its migration set holds it
    monkeypatch.setattr(store_migrations, "MIGRATIONS", later)
    monkeypatch.setattr("gateway.store.schema.SCHEMA", (*SCHEMA, "m002_notes"))
    writer = StoreWriter(state_dir, key)
    assert applied_migrations(writer.conn) == [*SCHEMA, "m002_notes"]
    writer.append(entries(10, 5))
    writer.close()
    assert verified(state_dir).summary() == "OK: 15 records in 2 blocks, seq 1..15"


BATCH = 250


def test_readers_in_a_loop_never_see_half_a_batch_nor_make_the_writer_fail(state_dir):
    key = load_private_key(state_dir)
    writer = StoreWriter(state_dir, key)
    writer.append(entries(0, BATCH))
    done = threading.Event()
    writer_errors: list[BaseException] = []
    seen: list[tuple[str, int]] = []
    reader_errors: list[str] = []

    def write() -> None:
        try:
            for batch in range(1, 60):
                writer.append(entries(batch * BATCH, BATCH))
        except BaseException as exc:
            writer_errors.append(exc)
        finally:
            done.set()

    def read_with_verify() -> None:
        conn = open_reader(state_dir / DB_FILE)
        while not done.is_set():
            result = verify_store(conn, key.public_key())
            if not result.ok or result.records % BATCH:
                reader_errors.append(f"verify: {result.summary()}")
            seen.append(("verify", result.records))
        conn.close()

    def read_with_export() -> None:
        conn = open_reader(state_dir / DB_FILE)
        while not done.is_set():

            class Lines:
                count = 0

                def write(self, text: str) -> None:
                    self.count += 1

            lines = Lines()
            export_records(conn, lines, "jsonl")
            if lines.count % BATCH:
                reader_errors.append(f"export saw {lines.count} records")
            seen.append(("export", lines.count))
        conn.close()

    threads = [threading.Thread(target=f) for f in (write, read_with_verify, read_with_export)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    writer.close()
    assert not writer_errors, writer_errors
    assert not reader_errors, reader_errors[:5]
    assert {kind for kind, _ in seen} == {"verify", "export"}
    assert len({count for _, count in seen}) > 3, seen  # the readers really ran during writing
    assert time.monotonic() - started < 60
    assert verified(state_dir).summary() == f"OK: {60 * BATCH} records in 60 blocks, seq 1..15000"


def test_a_reader_cannot_write(state_dir):
    StoreWriter(state_dir, load_private_key(state_dir)).close()
    conn = open_reader(state_dir / DB_FILE)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM records")
    conn.close()


def test_negative_zero_values_and_times_verify_after_a_round_trip(tmp_path):
    """A float32 register can hold -0.0 (0x80000000); SQLite reads it back as 0.0, so the store
    keeps and hashes 0.0."""
    from gateway.readings import Reading

    create_key(tmp_path)
    writer = StoreWriter(tmp_path, load_private_key(tmp_path))
    reading = Reading("flow-meter", "flow_rate", -0.0, "m3/h", (0x8000, 0), 1.0, -0.0)
    writer.append([from_reading(reading)])
    writer.close()
    assert verified(tmp_path).ok
