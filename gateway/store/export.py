"""Readings out of the store for people and other tools: JSON lines or CSV, streamed.

jsonl: one object per record with the 12 canonical fields by name (chain.FIELDS), so a tool can
rebuild each record's canonical bytes and leaf exactly. csv: the same fields with a header, raw
and data as JSON text, value empty for None, plus time_utc (wall_time as ISO 8601 UTC) for people.
Thinned records (tombstones) have no content and are left out; the "thinned" store_event that
lists them is exported like any record. One read transaction: what is exported is one consistent
snapshot of committed blocks, and the writer is never blocked.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from gateway.store import chain
from gateway.store.records import ROW_COLUMNS, Record

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (*chain.FIELDS[:9], "time_utc", *chain.FIELDS[9:])
PROGRESS_EVERY = 1000

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=False,
                            allow_nan=False)


def parse_since(text: str) -> tuple[int | None, float | None]:
    """--since: a seq (digits) or an ISO 8601 time (no offset: this computer's local time);
    returns (seq, None) or (None, unix time)."""
    text = text.strip()
    if text.isdigit():
        return int(text), None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: expected a seq number (e.g. 1200) or an ISO time "
                         "(e.g. 2025-06-01T08:00:00+08:00)") from None
    if when.tzinfo is None:
        when = when.astimezone()
    return None, when.timestamp()


def _iso_utc(wall: float | None) -> str:
    if wall is None:
        return ""
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="microseconds")


def _csv_row(record: Record) -> list[Any]:
    fields = record.as_dict()
    fields["value"] = "" if record.value is None else record.value
    fields["raw"] = _ENCODER.encode(record.raw)
    fields["data"] = "" if record.data is None else _ENCODER.encode(record.data)
    fields["time_utc"] = _iso_utc(record.wall_time)
    return [fields[name] for name in CSV_COLUMNS]


def seq_span(conn: sqlite3.Connection, since_seq: int | None) -> tuple[int, int] | None:
    """The first and last seq an export from `since_seq` would look at (for a progress bar)."""
    low, high = conn.execute("SELECT min(seq), max(seq) FROM records WHERE seq >= ?",
                             (since_seq or 0,)).fetchone()
    return None if low is None else (low, high)


def export_records(conn: sqlite3.Connection, out: TextIO, fmt: str,
                   since_seq: int | None = None, since_wall: float | None = None,
                   progress: Callable[[int], None] | None = None) -> int:
    """Write the records from `since_seq` / with wall_time >= `since_wall` to `out`; returns how
    many were written. `progress` is called with the seq reached, every 1000 records and at
    the end."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    sql = f"SELECT {ROW_COLUMNS} FROM records WHERE seq >= ? AND leaf IS NULL"
    params: list[Any] = [since_seq or 0]
    if since_wall is not None:
        sql += " AND wall_time >= ?"
        params.append(since_wall)
    written, seq = 0, None
    conn.execute("BEGIN")
    try:
        for row in conn.execute(sql + " ORDER BY seq", params):
            record = Record.from_row(row)
            if writer is not None:
                writer.writerow(_csv_row(record))
            else:
                out.write(_ENCODER.encode(record.as_dict()) + "\n")
            written += 1
            seq = record.seq
            if progress is not None and written % PROGRESS_EVERY == 0:
                progress(seq)
    finally:
        conn.execute("ROLLBACK")
    if progress is not None and seq is not None:
        progress(seq)
    return written
