"""Delivery cursors: the seq each uplink destination has acknowledged (the `deliveries` table).

The uplink reads its cursor when it starts and records every acknowledgement; retention reads
the lowest cursor of the configured destinations to know what has been delivered everywhere and
may be pruned. A destination never recorded has acknowledged nothing (seq 0).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.store.schema import BUSY_TIMEOUT_MS


def acked_seq(conn: sqlite3.Connection, destination: str) -> int:
    """The seq `destination` last acknowledged (0: none yet)."""
    row = conn.execute("SELECT acked_seq FROM deliveries WHERE destination = ?",
                       (destination,)).fetchone()
    return int(row[0]) if row else 0


def delivered_seq(conn: sqlite3.Connection, destinations: Sequence[str]) -> int:
    """The highest seq every destination has acknowledged (0 with none, or one never acked)."""
    if not destinations:
        return 0
    acked = dict(conn.execute("SELECT destination, acked_seq FROM deliveries").fetchall())
    return min(int(acked.get(name, 0)) for name in destinations)


def accounted_seq(conn: sqlite3.Connection) -> int | None:
    """The seq the accounting room has consumed through, from its newest checkpoint (None: no
    checkpoint, so no accounting bound; the kind, device and point are the accounting room's)."""
    row = conn.execute("SELECT value FROM records WHERE kind = 'accounting' AND device = "
                       "'accounting' AND point = 'checkpoint' ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def record_delivery(db_path: Path, destination: str, acked_seq: int,
                    wall: float | None = None) -> None:
    """Set `destination`'s acknowledged seq in the store at `db_path` (one short transaction on
    a connection of its own, so a reader's snapshot is never held up)."""
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
