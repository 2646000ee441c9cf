"""The store's single writer: each batch of records and its signed block commit in one transaction.

A commit reads the chain tail (next seq, last block, its head) inside its own BEGIN IMMEDIATE
transaction, so seq and the chain continue across restarts and crashes whatever was cached;
records, block and meta.next_seq then commit together, so a reader (WAL) sees all of a batch or
none of it, and a crash or power cut keeps every batch whose commit returned (synchronous=FULL
fsyncs the WAL before COMMIT returns). A failed commit is rolled back and raises; nothing of it
remains.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.store import chain
from gateway.store.block_rows import Entry, block_rows
from gateway.store.errors import StoreError
from gateway.store.keys import fingerprint, raw_public_key
from gateway.store.lost import (
    MARK_EVERY,
    check_before_open,
    check_next_seq,
    unreadable,
    write_marker,
)
from gateway.store.modes import create_private, secure_state_dir
from gateway.store.schema import DB_FILE, Connect, connect_file, open_writer

if TYPE_CHECKING:
    from sqlite_utils.migrations import Migrations

log = logging.getLogger(__name__)

# `leaf` (set only for a tombstone) is left to its default NULL: one parameter less per record
INSERT_RECORD = ("INSERT INTO records (seq, kind, device, point, value, unit, quality, raw, "
                 "wall_time, mono_time, boot, data, leaf_prefix) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
# meta.next_seq and the last block in one statement: a commit of 16 readings pays per statement
TAIL_QUERY = ("SELECT (SELECT value FROM meta WHERE key = 'next_seq'), block_no, last_seq, head "
              "FROM blocks ORDER BY block_no DESC LIMIT 1")
INSERT_BLOCK = ("INSERT INTO blocks (block_no, first_seq, last_seq, count, prev_head, head, "
                "signed_wall, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True, slots=True)
class Block:
    """A committed batch."""

    block_no: int
    first_seq: int
    last_seq: int
    prev_head: bytes
    head: bytes
    signed_wall: float
    signature: bytes

    @property
    def count(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True, slots=True)
class Tail:
    """Where the chain ends: the next seq and block number, and the head to continue from."""

    next_seq: int
    next_block_no: int
    head: bytes


class StoreWriter:
    """Opens (creating and migrating) <state_dir>/wellgate.db and appends signed blocks to it.

    Refuses (StoreLost, gateway/store/lost.py) a store that existed and is missing, empty,
    unreadable or cut back, unless `new_chain` (only `wellgate init --new-chain` passes it, once
    the old files are moved aside). The state directory and its files are made and kept owner
    only (gateway/store/modes.py)."""

    def __init__(self, state_dir: Path, key: Ed25519PrivateKey, *,
                 connect: Connect = connect_file, migrations: Migrations | None = None,
                 max_page_count: int | None = None,
                 clock: Callable[[], float] = time.time, new_chain: bool = False) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / DB_FILE
        self.key = key
        self.clock = clock
        self._public_raw = raw_public_key(key.public_key())
        self._open_args = (connect, migrations, max_page_count)
        self._marked_at = float("-inf")
        secure_state_dir(self.state_dir)
        if not new_chain:
            check_before_open(self.state_dir)
        create_private(self.path)  # 0600 before SQLite makes it (and its -wal, -shm, alike)
        try:
            self.conn = open_writer(self.path, *self._open_args)
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise unreadable(self.state_dir, exc) from None
            raise
        try:
            self.boot = self._start_boot()
            next_seq = self.tail().next_seq
            if not new_chain:
                check_next_seq(self.state_dir, next_seq)
        except BaseException:
            self.conn.close()
            raise
        self._mark(next_seq)

    def _mark(self, next_seq: int) -> None:
        """Write the marker that shows a store exists here (a failure is only logged)."""
        self._marked_at = time.monotonic()
        try:
            write_marker(self.state_dir, next_seq, fingerprint(self.key.public_key()))
        except OSError as exc:
            log.warning("cannot write the store marker in %s: %s", self.state_dir, exc)

    # --- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (which is re-raised)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise

    def _start_boot(self) -> int:
        """Check the store's key, count this open in meta.boot; returns the new boot number."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'public_key'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('public_key', ?)",
                             (self._public_raw,))
            elif row[0] != self._public_raw:
                raise StoreError(
                    f"{self.path} was signed with another key than {self.state_dir}/gateway.key "
                    f"({fingerprint(self.key.public_key())}); refusing to mix two keys in one "
                    "chain")
            boot = int(self.meta_value(conn, "boot")) + 1
            conn.execute("UPDATE meta SET value = ? WHERE key = 'boot'", (boot,))
        return boot

    @staticmethod
    def meta_value(conn: sqlite3.Connection, key: str) -> object:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"meta.{key} is missing: not a wellgate store, or damaged")
        return row[0]

    def tail(self, conn: sqlite3.Connection | None = None) -> Tail:
        """The end of the chain, as committed (call inside a transaction to build on it)."""
        conn = conn or self.conn
        last = conn.execute(TAIL_QUERY).fetchone()
        if last is None:
            next_seq = int(self.meta_value(conn, "next_seq"))
            if next_seq != 1:
                raise StoreError(f"meta.next_seq is {next_seq} but there is no block")
            return Tail(1, 0, chain.ZERO_HEAD)
        next_seq, block_no, last_seq, head = last
        if next_seq is None:
            raise StoreError("meta.next_seq is missing: not a wellgate store, or damaged")
        if next_seq != last_seq + 1:
            raise StoreError(f"meta.next_seq is {next_seq}; the last block ends at seq "
                             f"{last_seq}, so it should be {last_seq + 1}")
        return Tail(int(next_seq), block_no + 1, head)

    # --- appending ----------------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> Block:
        """Commit `entries` (records, or readings stored as reading records) as one signed block;
        raises (rolled back) if the commit fails."""
        with self.transaction() as conn:
            block = self.append_in_transaction(conn, entries)
        if time.monotonic() - self._marked_at >= MARK_EVERY:
            self._mark(block.last_seq + 1)
        return block

    def append_in_transaction(self, conn: sqlite3.Connection,
                              entries: Sequence[Entry]) -> Block:
        """Add `entries` as one block to the transaction in progress (thinning, pruning)."""
        if not entries:
            raise ValueError("a block holds at least one record; got none")
        tail = self.tail(conn)
        first_seq, last_seq = tail.next_seq, tail.next_seq + len(entries) - 1
        rows, head = block_rows(entries, first_seq, self.boot, tail.head)
        signature = chain.sign_block(self.key, tail.next_block_no, first_seq, last_seq,
                                     tail.head, head)
        block = Block(tail.next_block_no, first_seq, last_seq, tail.head, head, self.clock(),
                      signature)
        conn.executemany(INSERT_RECORD, rows)
        conn.execute(INSERT_BLOCK, (block.block_no, first_seq, last_seq, block.count,
                                    block.prev_head, head, block.signed_wall, signature))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (last_seq + 1,))
        return block

    # --- space --------------------------------------------------------------------------------

    def free_bytes(self) -> int:
        """Free space for the store: the file system's (for this user) plus the database's own
        free pages, which new records reuse before the file grows."""
        stat = os.statvfs(self.state_dir)
        page_size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        free_pages = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        return stat.f_bavail * stat.f_frsize + free_pages * page_size

    def reconnect(self) -> None:
        """A fresh connection after an I/O error; boot stays (this process did not restart)."""
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        self.conn = open_writer(self.path, *self._open_args)

    def close(self) -> None:
        """Note the chain's next seq in the marker, and close the file."""
        with contextlib.suppress(sqlite3.Error, StoreError, ValueError, TypeError):
            self._mark(int(self.meta_value(self.conn, "next_seq")))
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
