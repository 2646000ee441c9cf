"""The receiver's SQLite database: what each gateway delivered, its blocks, and the event log.

Migrations are sqlite-utils migrations in the set "wellgate-platform" (as the gateway's store).
Tables (version 1, and the columns version 2 added):
  gateways  one row per gateway that ever delivered: first_seq (the first seq received),
            acked_seq (every seq first_seq..acked_seq is stored), head (the chain head after
            acked_seq), next_block, last_nonce (of the newest batch accepted: replays are
            refused), last_seen (receiver's clock), records, thinned (tombstones received).
  records   (gateway, seq) primary key: the canonical fields as the gateway's store keeps them
            (raw packed by gateway/store/records.py pack_raw, data as compact JSON); a record
            thinned at the gateway has NULL content and its 32-byte leaf.
  blocks    (gateway, block_no): first_seq, last_seq, prev_head, head, signature, as signed by
            the gateway: with the records they prove every record again at any later time.
  events    id, gateway, wall, kind, first_seq, last_seq, detail: batches rejected and why, gaps
            in what a gateway could deliver, thinning reported by the gateway, resumptions;
            (2) count, last_wall, source: a row counts repeated refusals of one kind from one
            source, wall is the first and last_wall the latest (gateway/platform/events.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gateway.store.schema import open_reader, open_writer

MIGRATIONS = Migrations("wellgate-platform")


@MIGRATIONS()
def m001_gateways_records_blocks_events(db: Database) -> None:
    db.execute("""
        CREATE TABLE gateways (
            gateway TEXT PRIMARY KEY,
            first_seq INTEGER NOT NULL,
            acked_seq INTEGER NOT NULL,
            head BLOB NOT NULL,
            next_block INTEGER NOT NULL,
            last_nonce INTEGER NOT NULL,
            last_seen REAL NOT NULL,
            records INTEGER NOT NULL DEFAULT 0,
            thinned INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("""
        CREATE TABLE records (
            gateway TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT,
            device TEXT,
            point TEXT,
            value,
            unit TEXT,
            quality TEXT,
            raw BLOB,
            wall_time REAL,
            mono_time REAL,
            boot INTEGER,
            data TEXT,
            leaf BLOB,
            PRIMARY KEY (gateway, seq)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE blocks (
            gateway TEXT NOT NULL,
            block_no INTEGER NOT NULL,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            prev_head BLOB NOT NULL,
            head BLOB NOT NULL,
            signature BLOB NOT NULL,
            PRIMARY KEY (gateway, block_no)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            gateway TEXT,
            wall REAL NOT NULL,
            kind TEXT NOT NULL,
            first_seq INTEGER,
            last_seq INTEGER,
            detail TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX events_by_gateway ON events (gateway, kind)")


@MIGRATIONS()
def m002_events_count_repeats(db: Database) -> None:
    db.execute("ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE events ADD COLUMN last_wall REAL")
    db.execute("ALTER TABLE events ADD COLUMN source TEXT")
    db.execute("UPDATE events SET last_wall = wall")


def open_database(path: Path) -> sqlite3.Connection:
    """The receiver's database, created or migrated: WAL, synchronous=FULL (an ack is sent only
    after the commit is on disk), opened as the gateway's store opens its own."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open_writer(path, migrations=MIGRATIONS)


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection (report): never blocks the receiver."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no receiver database {path}")
    return open_reader(path)
