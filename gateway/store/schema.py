"""The store's SQLite file: connections (WAL, synchronous=FULL) and the schema, as named migrations.

Migrations are sqlite-utils migrations in the set "wellgate" (gateway/store/migrations.py),
recorded in the database's `_sqlite_migrations` table. Every writer open reads that table with a
plain query and applies the migrations when one named in SCHEMA is missing, so opening an old
database upgrades it, and a current one opens without loading sqlite-utils (issue 16: the start's
time and memory). A later schema change is a new migration there and its name in SCHEMA here.

Tables (version 1):
  records     one row per record, seq INTEGER PRIMARY KEY (the rowid: no extra index). Content
              columns hold the canonical fields (gateway/store/chain.py); raw is packed (see
              gateway/store/records.py); data is compact JSON text. leaf_prefix = the first 4
              bytes of the record's leaf hash, only to name an altered record (verify trusts the
              signed chain, not this). A thinned record (tombstone) has every content column NULL
              and its 32-byte leaf in `leaf` (NULL for every other row).
  blocks      one row per committed batch: block_no, first_seq, last_seq, count, prev_head, head,
              signed_wall (time.time() at commit, not signed), signature (Ed25519, 64 bytes).
  meta        key/value: next_seq, boot (the boot counter), public_key (raw 32 bytes, for
              information: verify never trusts it), chain (the chain version), thinned_through.
  deliveries  destination, acked_seq, updated_wall: what each uplink has acknowledged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from sqlite_utils.migrations import Migrations

DB_FILE = "wellgate.db"
MIGRATION_SET = "wellgate"
BUSY_TIMEOUT_MS = 5000
# A big thinning or pruning transaction grows the WAL; cut it back afterwards, but not below the
# size ordinary commits reuse (truncating and regrowing would cost file-system metadata writes).
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024

# The names of the migrations in gateway/store/migrations.py, in order: the schema this code
# writes. A database that has applied them all is current (tests/test_store_writer.py checks that
# a new database records exactly these).
SCHEMA = ("m001_records_blocks_meta_deliveries",)

Connect = Callable[[Path], sqlite3.Connection]


def connect_file(path: Path) -> sqlite3.Connection:
    """The default connection factory of the writer (tests pass their own to inject faults)."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)


def open_writer(path: Path, connect: Connect = connect_file,
                migrations: Migrations | None = None,
                max_page_count: int | None = None) -> sqlite3.Connection:
    """A connection that may write: WAL, synchronous=FULL, the schema migrated to the latest:
    the store's own (when one in SCHEMA is missing), or the set `migrations` (always applied:
    e.g. the platform's database)."""
    conn = connect(path)
    try:
        conn.isolation_level = None  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: journal_mode is {mode}; expected wal")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        if max_page_count is not None:
            conn.execute(f"PRAGMA max_page_count={int(max_page_count)}")
        if migrations is not None or not set(SCHEMA) <= set(applied_migrations(conn)):
            migrate(conn, migrations)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, migrations: Migrations | None = None) -> None:
    """Apply what the database lacks of `migrations` (by default the store's own set)."""
    from sqlite_utils import Database

    if migrations is None:
        from gateway.store.migrations import MIGRATIONS as migrations
    migrations.apply(Database(conn, execute_plugins=False))


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection (verify, export, the demo's view): never blocks the writer (WAL)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no database file {path}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """The names of the migrations recorded in the database, in the order applied."""
    try:
        rows = conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ? "
                            "ORDER BY rowid", (MIGRATION_SET,)).fetchall()
    except sqlite3.OperationalError:
        return []
    return [name for (name,) in rows]
