"""The centre simulator's SQLite file: every report received, every frame up and down, commands.

Tables:
  reports   one row per report accepted: protocol, station, function (AFN C0 / 30-34 ...),
            observed (the station's observation time as the frame gives it), elements (JSON list
            of {"name", "value"} in frame order), duplicate (1 if an earlier row has the same
            station, function, observed and elements: a resend), frame_hex, received_at.
  frames    every frame or stray bytes up and down: direction up/down, peer, station, kind,
            verdict (accepted, refused, garbage, dropped, sent), reason, hex, at.
  commands  every command sent down: station, command, request_hex, reply_hex, result (JSON),
            error, sent_at, replied_at.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    protocol TEXT NOT NULL,
    station TEXT NOT NULL,
    function TEXT NOT NULL,
    observed TEXT,
    elements TEXT NOT NULL,
    duplicate INTEGER NOT NULL,
    frame_hex TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_station ON reports (station, observed);
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    direction TEXT NOT NULL,
    peer TEXT,
    station TEXT,
    kind TEXT,
    verdict TEXT NOT NULL,
    reason TEXT,
    hex TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY,
    sent_at TEXT NOT NULL,
    station TEXT NOT NULL,
    command TEXT NOT NULL,
    request_hex TEXT NOT NULL,
    replied_at TEXT,
    reply_hex TEXT,
    result TEXT,
    error TEXT
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class CentreDb:
    """The simulator's database: written by the running centre, read by tests and center-report."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no centre database at {self.path}")
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        if create:
            self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> CentreDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing (the running centre) ----------------------------------------------------------

    def add_report(self, protocol: str, station: str, function: str, observed: str | None,
                   elements: list[dict[str, Any]], frame: bytes) -> dict[str, Any]:
        """Store one report; returns its row (duplicate = 1 when it repeats an earlier one)."""
        text = json.dumps(elements, ensure_ascii=False, sort_keys=True)
        duplicate = self._conn.execute(
            "SELECT 1 FROM reports WHERE station = ? AND function = ? AND observed IS ? "
            "AND elements = ? LIMIT 1", (station, function, observed, text)).fetchone()
        row = {"received_at": _now(), "protocol": protocol, "station": station,
               "function": function, "observed": observed, "elements": text,
               "duplicate": int(duplicate is not None), "frame_hex": frame.hex(" ").upper()}
        cursor = self._conn.execute(
            "INSERT INTO reports (received_at, protocol, station, function, observed, elements, "
            "duplicate, frame_hex) VALUES (:received_at, :protocol, :station, :function, "
            ":observed, :elements, :duplicate, :frame_hex)", row)
        row["id"] = cursor.lastrowid
        row["elements"] = elements
        return row

    def log_frame(self, direction: str, data: bytes, verdict: str, *, peer: str | None = None,
                  station: str | None = None, kind: str | None = None,
                  reason: str | None = None) -> None:
        """One frame (or stray bytes) seen or sent, with what the centre made of it."""
        self._conn.execute(
            "INSERT INTO frames (at, direction, peer, station, kind, verdict, reason, hex) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_now(), direction, peer, station, kind, verdict, reason, data.hex(" ").upper()))

    def add_command(self, station: str, command: str, request: bytes) -> int:
        cursor = self._conn.execute(
            "INSERT INTO commands (sent_at, station, command, request_hex) VALUES (?, ?, ?, ?)",
            (_now(), station, command, request.hex(" ").upper()))
        return int(cursor.lastrowid or 0)

    def finish_command(self, command_id: int, *, reply: bytes | None = None,
                       result: Any = None, error: str | None = None) -> None:
        self._conn.execute(
            "UPDATE commands SET replied_at = ?, reply_hex = ?, result = ?, error = ? "
            "WHERE id = ?",
            (_now(), reply.hex(" ").upper() if reply is not None else None,
             json.dumps(result, ensure_ascii=False) if result is not None else None, error,
             command_id))

    # --- reading (tests, center-report) --------------------------------------------------------

    def reports(self, station: str | None = None, *,
                include_duplicates: bool = True) -> list[dict[str, Any]]:
        """Reports in arrival order (of one station if given), elements decoded from JSON."""
        sql = "SELECT * FROM reports WHERE (? IS NULL OR station = ?)"
        if not include_duplicates:
            sql += " AND duplicate = 0"
        rows = _rows(self._conn.execute(sql + " ORDER BY id", (station, station)))
        for row in rows:
            row["elements"] = json.loads(row["elements"])
        return rows

    def frames(self, *, direction: str | None = None,
               verdict: str | None = None) -> list[dict[str, Any]]:
        """The frames log in order, filtered by direction (up/down) and verdict if given."""
        return _rows(self._conn.execute(
            "SELECT * FROM frames WHERE (? IS NULL OR direction = ?) AND (? IS NULL OR "
            "verdict = ?) ORDER BY id", (direction, direction, verdict, verdict)))

    def commands(self, station: str | None = None) -> list[dict[str, Any]]:
        """Commands sent, with the reply's decoded result (JSON) when one came."""
        rows = _rows(self._conn.execute(
            "SELECT * FROM commands WHERE (? IS NULL OR station = ?) ORDER BY id",
            (station, station)))
        for row in rows:
            row["result"] = json.loads(row["result"]) if row["result"] else None
        return rows

    def summary(self) -> list[dict[str, Any]]:
        """Per station: reports, duplicates, refused frames, first and last observation."""
        return _rows(self._conn.execute(
            "SELECT station, COUNT(*) AS reports, SUM(duplicate) AS duplicates, "
            "MIN(observed) AS first_observed, MAX(observed) AS last_observed, "
            "(SELECT COUNT(*) FROM frames f WHERE f.station = r.station AND "
            "f.verdict = 'refused') AS refused FROM reports r GROUP BY station ORDER BY station"))
