"""The uplink's view of the store: whole blocks after a cursor, and each destination's acked seq.

Reads go through a read-only connection (gateway/store/schema.py open_reader), one short read
transaction per batch, so the writer is never blocked (WAL) and a batch never sees half a commit
or a block pruned in between. The only write is record_delivery(): one row of the store's
`deliveries` table per destination, in a transaction of its own.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store.records import ROW_COLUMNS, unpack_raw
from gateway.store.schema import BUSY_TIMEOUT_MS, DB_FILE, open_reader
from gateway.uplink.payload import BlockSignature, Record, Tombstone


class OutboxError(Exception):
    """The store cannot give what the uplink asked (damaged, or not a wellgate store)."""


@dataclass
class Chunk:
    """Whole blocks and their records, ready for the wire."""

    blocks: list[BlockSignature]
    records: list[Record]
    prev_head: bytes
    head: bytes
    oldest_wall: float | None  # wall_time of the first record that has one

    @property
    def first_seq(self) -> int:
        return self.blocks[0].first_seq

    @property
    def last_seq(self) -> int:
        return self.blocks[-1].last_seq


@dataclass(frozen=True)
class Backlog:
    """What a destination has not acknowledged yet."""

    acked_seq: int
    last_seq: int  # the newest seq in the store (0: empty)
    records: int
    oldest_wall: float | None  # wall_time of the oldest unacknowledged record
    first_available_seq: int  # the oldest seq the store still holds (pruning removes blocks)


class Outbox:
    """Reads one store for the uplink engines (one Outbox may serve every destination)."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(db_path)
        self._conn: sqlite3.Connection | None = None
        self._data_cache: dict[str, Any] = {}

    @classmethod
    def of_state_dir(cls, state_dir: Path) -> Outbox:
        return cls(Path(state_dir) / DB_FILE)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self._conn = open_reader(self.path)
            except (FileNotFoundError, sqlite3.Error) as exc:
                raise OutboxError(f"cannot open the store {self.path}: {exc}") from None
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def _snapshot(self):
        conn = self._connection()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            self.close()
            raise OutboxError(f"reading the store {self.path}: {exc}") from None

    def read(self, after_seq: int, max_records: int) -> Chunk | None:
        """Whole blocks holding the records after `after_seq`, up to about max_records records
        (at least one block); None when there is nothing after it."""
        with self._snapshot() as conn:
            rows = conn.execute(
                "SELECT block_no, first_seq, last_seq, prev_head, head, signature FROM blocks "
                "WHERE last_seq > ? ORDER BY block_no LIMIT ?",
                (after_seq, max(1, max_records))).fetchall()
            if not rows:
                return None
            chosen, count = [], 0
            for row in rows:
                if chosen and count + (row[2] - row[1] + 1) > max_records:
                    break
                if chosen and row[1] != chosen[-1][2] + 1:
                    raise OutboxError(f"the store's block {row[0]} starts at seq {row[1]}, not "
                                      f"{chosen[-1][2] + 1}: run `wellgate verify`")
                chosen.append(row)
                count += row[2] - row[1] + 1
            first_seq, last_seq = chosen[0][1], chosen[-1][2]
            record_rows = conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq BETWEEN ? "
                                       "AND ? ORDER BY seq", (first_seq, last_seq)).fetchall()
        records = [self._record(row) for row in record_rows]
        if len(records) != last_seq - first_seq + 1:
            raise OutboxError(f"the store's blocks {chosen[0][0]}..{chosen[-1][0]} cover seq "
                              f"{first_seq}..{last_seq} but {len(records)} records are there: "
                              "run `wellgate verify`")
        blocks = [BlockSignature(block_no, first, last, signature)
                  for block_no, first, last, _, _, signature in chosen]
        oldest = next((record[8] for record in records if not isinstance(record, Tombstone)),
                      None)
        return Chunk(blocks, records, chosen[0][3], chosen[-1][4], oldest)

    def _record(self, row: tuple) -> Record:
        (seq, kind, device, point, value, unit, quality, raw, wall, mono, boot, data_text, _,
         leaf) = row
        if leaf is not None:
            return Tombstone(seq, leaf)
        data = None
        if data_text is not None:
            data = self._data_cache.get(data_text)
            if data is None:
                data = json.loads(data_text)
                if len(data_text) <= 64 and len(self._data_cache) < 256:
                    self._data_cache[data_text] = data  # shared: records are read-only
        return (seq, kind, device, point, value, unit, quality, unpack_raw(raw), wall, mono,
                boot, data)

    def acked_seq(self, destination: str) -> int:
        """The seq `destination` last acknowledged, as the store's deliveries table keeps it."""
        with self._snapshot() as conn:
            row = conn.execute("SELECT acked_seq FROM deliveries WHERE destination = ?",
                               (destination,)).fetchone()
        return int(row[0]) if row else 0

    def boot(self) -> int:
        with self._snapshot() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
        return int(row[0]) if row else 0

    def backlog(self, destination: str) -> Backlog:
        """What `destination` has yet to acknowledge: records, and the age of the oldest."""
        with self._snapshot() as conn:
            row = conn.execute("SELECT acked_seq FROM deliveries WHERE destination = ?",
                               (destination,)).fetchone()
            acked = int(row[0]) if row else 0
            last = conn.execute("SELECT max(last_seq), min(first_seq) FROM blocks").fetchone()
            last_seq, first_available = int(last[0] or 0), int(last[1] or 1)
            start = max(acked + 1, first_available)
            oldest = conn.execute("SELECT wall_time FROM records WHERE seq >= ? AND wall_time "
                                  "IS NOT NULL ORDER BY seq LIMIT 1", (start,)).fetchone()
        return Backlog(acked, last_seq, max(0, last_seq - max(acked, first_available - 1)),
                       oldest[0] if oldest and last_seq > acked else None, first_available)


def record_delivery(db_path: Path, destination: str, acked_seq: int,
                    wall: float | None = None) -> None:
    """Write `destination`'s acknowledged seq into the store's deliveries table (one short
    transaction; retention reads it to decide what may be pruned)."""
    conn = sqlite3.connect(Path(db_path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO deliveries (destination, acked_seq, updated_wall) "
                         "VALUES (?, ?, ?) ON CONFLICT(destination) DO UPDATE SET "
                         "acked_seq = excluded.acked_seq, updated_wall = excluded.updated_wall",
                         (destination, int(acked_seq), time.time() if wall is None else wall))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
