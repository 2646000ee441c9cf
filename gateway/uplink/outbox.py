"""The uplink's view of the store: whole blocks after a cursor, and each destination's acked seq.

Reads go through a read-only connection (gateway/store/schema.py open_reader) and the store's
queries (gateway/store/queries.py, cursors.py), one short read transaction per batch, so the
writer is never blocked (WAL) and a batch never sees half a commit or a block pruned in between.
The uplink's only write, its cursor, is gateway/store/cursors.py record_delivery().
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store import DB_FILE, cursors, open_reader, queries
from gateway.store.records import unpack_raw
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
            stored = queries.blocks_after(conn, after_seq, max(1, max_records))
            if not stored:
                return None
            chosen: list[queries.StoredBlock] = []
            count = 0
            for block in stored:
                size = block.last_seq - block.first_seq + 1
                if chosen and count + size > max_records:
                    break
                if chosen and block.first_seq != chosen[-1].last_seq + 1:
                    raise OutboxError(f"the store's block {block.block_no} starts at seq "
                                      f"{block.first_seq}, not {chosen[-1].last_seq + 1}: run "
                                      "`wellgate verify`")
                chosen.append(block)
                count += size
            first_seq, last_seq = chosen[0].first_seq, chosen[-1].last_seq
            record_rows = queries.record_rows(conn, first_seq, last_seq)
        records = [self._record(row) for row in record_rows]
        if len(records) != last_seq - first_seq + 1:
            raise OutboxError(f"the store's blocks {chosen[0].block_no}..{chosen[-1].block_no} "
                              f"cover seq {first_seq}..{last_seq} but {len(records)} records "
                              "are there: run `wellgate verify`")
        blocks = [BlockSignature(block.block_no, block.first_seq, block.last_seq, block.signature)
                  for block in chosen]
        oldest = next((record[8] for record in records if not isinstance(record, Tombstone)),
                      None)
        return Chunk(blocks, records, chosen[0].prev_head, chosen[-1].head, oldest)

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

    def newest_seq(self) -> int:
        """The newest seq the store has committed (0: none): a look that reads no records."""
        with self._snapshot() as conn:
            return queries.newest_seq(conn)

    def acked_seq(self, destination: str) -> int:
        """The seq `destination` last acknowledged, as the store's deliveries table keeps it."""
        with self._snapshot() as conn:
            return cursors.acked_seq(conn, destination)

    def boot(self) -> int:
        with self._snapshot() as conn:
            return queries.boot(conn)

    def backlog(self, destination: str) -> Backlog:
        """What `destination` has yet to acknowledge: records, and the age of the oldest."""
        with self._snapshot() as conn:
            acked = cursors.acked_seq(conn, destination)
            last_seq, first_available = queries.seq_span(conn)
            oldest = queries.oldest_wall_from(conn, max(acked + 1, first_available))
        return Backlog(acked, last_seq, max(0, last_seq - max(acked, first_available - 1)),
                       oldest if last_seq > acked else None, first_available)

