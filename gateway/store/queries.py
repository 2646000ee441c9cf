"""Reading the store: blocks and records by seq, the newest record of a kind, the seq span.

Every function takes a connection (gateway/store/schema.py open_reader) and runs one indexed
query; callers that need several to agree call them inside one read transaction. Records come
back as Record (gateway/store/records.py), or, for bulk readers that decode rows themselves, as
rows in ROW_COLUMNS order (seq, kind, device, point, value, unit, quality, raw, wall_time,
mono_time, boot, data, leaf_prefix, leaf: raw packed, data JSON text).
"""

from __future__ import annotations

import sqlite3
from typing import Any, NamedTuple

from gateway.store.records import ROW_COLUMNS, Record


class StoredBlock(NamedTuple):
    """A committed block as the uplink sends it (its count: last_seq - first_seq + 1)."""

    block_no: int
    first_seq: int
    last_seq: int
    prev_head: bytes
    head: bytes
    signature: bytes


def blocks_after(conn: sqlite3.Connection, after_seq: int, limit: int) -> list[StoredBlock]:
    """Up to `limit` blocks, oldest first, holding records after `after_seq`."""
    start = _first_block_after(conn, after_seq)
    if start is None:
        return []
    rows = conn.execute("SELECT block_no, first_seq, last_seq, prev_head, head, signature "
                        "FROM blocks WHERE block_no >= ? ORDER BY block_no LIMIT ?",
                        (start, limit)).fetchall()
    return list(map(StoredBlock._make, rows))


def _first_block_after(conn: sqlite3.Connection, after_seq: int) -> int | None:
    """The block_no of the oldest block holding a seq after `after_seq` (None: no such block).

    Blocks are numbered in seq order (a commit appends one; pruning takes the oldest), so
    last_seq grows with block_no and a bisection over the key finds the block in O(log n)
    lookups; `WHERE last_seq > ?` had no index to use and scanned the table from its first
    block at every batch, a cost that grew with the store's age."""
    # two queries: SQLite serves a lone min() or max() from the key, not both in one
    low = conn.execute("SELECT min(block_no) FROM blocks").fetchone()[0]
    high = conn.execute("SELECT max(block_no) FROM blocks").fetchone()[0]
    if high is None:
        return None
    seek = "SELECT block_no, last_seq FROM blocks WHERE block_no >= ? ORDER BY block_no LIMIT 1"
    if _whole(conn.execute(seek, (high,)).fetchone()[1], "last_seq") <= after_seq:
        return None
    while low < high:  # `high` is always a block holding a seq after after_seq
        block_no, last_seq = conn.execute(seek, ((low + high) // 2,)).fetchone()
        if _whole(last_seq, "last_seq") > after_seq:
            high = block_no
        else:
            low = block_no + 1
    return high


def seq_span(conn: sqlite3.Connection) -> tuple[int, int]:
    """(the newest seq, 0 when empty; the oldest seq still held, 1 when empty): pruning removes
    the oldest blocks. Read from the newest and the oldest block by key (no scan)."""
    newest = conn.execute("SELECT last_seq FROM blocks ORDER BY block_no DESC LIMIT 1").fetchone()
    oldest = conn.execute("SELECT first_seq FROM blocks ORDER BY block_no LIMIT 1").fetchone()
    if newest is None or oldest is None:
        return 0, 1
    return _whole(newest[0], "last_seq"), _whole(oldest[0], "first_seq")


def _whole(value: Any, name: str) -> int:
    """A seq column's value, refused as damage unless it is a whole number."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise sqlite3.DatabaseError(f"the blocks table's {name} holds {value!r:.60}, "
                                    "expected a whole number")
    return value


def newest_seq(conn: sqlite3.Connection) -> int:
    """The newest committed seq (0: none), from the records' key: no scan, however big the store."""
    return int(conn.execute("SELECT max(seq) FROM records").fetchone()[0] or 0)


def table_names(conn: sqlite3.Connection) -> set[str]:
    """The tables the file holds (to tell a wellgate store from another SQLite file)."""
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def record_rows(conn: sqlite3.Connection, first_seq: int, last_seq: int) -> list[tuple[Any, ...]]:
    """The rows (ROW_COLUMNS order) of seq first_seq..last_seq, in seq order."""
    return conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq BETWEEN ? AND ? "
                        "ORDER BY seq", (first_seq, last_seq)).fetchall()


def record_at(conn: sqlite3.Connection, seq: int) -> Record | None:
    row = conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else Record.from_row(row)


def records_after(conn: sqlite3.Connection, seq: int, limit: int,
                  through: int | None = None) -> list[Record]:
    """Committed records with seq > `seq` (and <= `through`), oldest first, at most `limit`."""
    if through is None:
        rows = conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq > ? ORDER BY seq "
                            "LIMIT ?", (seq, limit))
    else:
        rows = conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq > ? AND seq <= ? "
                            "ORDER BY seq LIMIT ?", (seq, through, limit))
    return [Record.from_row(row) for row in rows]


def latest_record(conn: sqlite3.Connection, kind: str, device: str,
                  point: str) -> Record | None:
    """The newest record of this kind, device and point (scanning back from the end: meant
    for records written often, such as checkpoints)."""
    row = conn.execute(
        f"SELECT {ROW_COLUMNS} FROM records WHERE kind = ? AND device = ? AND point = ? "
        "ORDER BY seq DESC LIMIT 1", (kind, device, point),
    ).fetchone()
    return None if row is None else Record.from_row(row)


def has_record_after(conn: sqlite3.Connection, seq: int, kind: str, data_key: str,
                     value: Any) -> bool:
    """Whether a record of `kind` after `seq` has `value` under `data_key` in its data."""
    if not data_key.isidentifier():
        raise ValueError(f"a data key is a plain name (letters, digits, _); got {data_key!r}")
    row = conn.execute("SELECT 1 FROM records WHERE seq > ? AND kind = ? AND "
                       "json_extract(data, ?) = ? LIMIT 1",
                       (seq, kind, f"$.{data_key}", value)).fetchone()
    return row is not None


def oldest_wall_from(conn: sqlite3.Connection, seq: int) -> float | None:
    """The wall time of the first record from `seq` on that has one (tombstones have none)."""
    row = conn.execute("SELECT wall_time FROM records WHERE seq >= ? AND wall_time IS NOT NULL "
                       "ORDER BY seq LIMIT 1", (seq,)).fetchone()
    return None if row is None else row[0]


def boot(conn: sqlite3.Connection) -> int:
    """The store's boot counter (how many times a writer has opened it; 0 for none)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
    return int(row[0]) if row else 0


def newest_seqs(conn: sqlite3.Connection, kind: str,
                after_seq: int) -> dict[tuple[str, str], int]:
    """The newest seq of each (device, point) among the records of `kind` after `after_seq` (a
    range of the primary key: cheap when `after_seq` is near the end)."""
    rows = conn.execute("SELECT device, point, max(seq) FROM records WHERE seq > ? AND kind = ? "
                        "GROUP BY device, point", (after_seq, kind))
    return {(device, point): seq for device, point, seq in rows}


def count_after(conn: sqlite3.Connection, after_seq: int, through_seq: int, kind: str,
                value: Any) -> int:
    """How many records of `kind` holding `value` have a seq in after_seq+1..through_seq."""
    row = conn.execute("SELECT count(*) FROM records WHERE seq > ? AND seq <= ? AND kind = ? "
                       "AND value = ?", (after_seq, through_seq, kind, value)).fetchone()
    return int(row[0])
