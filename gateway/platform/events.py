"""The receiver's event log, bounded: anyone can send a batch, so no refusal may grow it much.

    a refusal   -> one events row per (gateway, kind, HTTP code, source) while they keep coming
                   (each within AGGREGATE_SECONDS of the last): count, wall (first), last_wall,
                   and the latest seqs and detail; the row is rewritten at most once per
                   FLUSH_SECONDS (the counts in between are kept in memory, written by flush())
    field sizes -> gateway ids cut to MAX_GATEWAY_CHARS, details and sources to
                   MAX_DETAIL_CHARS / MAX_SOURCE_CHARS
    new rows    -> at most NEW_ROWS_BURST at once, then NEW_ROWS_PER_HOUR, counted apart for
                   batches the gateway's key signed and for the rest (anyone's): beyond that,
                   refusals are counted on one "rate_limited" row, which names the latest
Gaps and thinning (from verified batches) are written as they come, one row each.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_GATEWAY_CHARS = 64  # a registered id is at most 64 (gateway/platform/config.py)
MAX_DETAIL_CHARS = 300
MAX_SOURCE_CHARS = 64
FLUSH_SECONDS = 1.0
AGGREGATE_SECONDS = 3600.0
MAX_OPEN = 1024  # aggregated rows kept open in memory
NEW_ROWS_BURST = 100
NEW_ROWS_PER_HOUR = 360
RATE_LIMITED = "rate_limited"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with "..." when cut."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class _Open:
    """An aggregated refusal row and what memory holds beyond what the database has."""

    row: int
    count: int
    written: int
    last_wall: float
    first_seq: int | None
    last_seq: int | None
    detail: str
    flushed: float  # monotonic


class _Bucket:
    """A token bucket: `burst` at once, refilled at `per_hour`."""

    def __init__(self, burst: int, per_hour: float, monotonic: Callable[[], float]) -> None:
        self.burst, self.rate, self.monotonic = burst, per_hour / 3600.0, monotonic
        self.tokens, self.at = float(burst), monotonic()

    def take(self) -> bool:
        now = self.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class EventLog:
    """Writes the events table through the receiver's connection (the caller holds its lock)."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.conn, self.clock, self.monotonic = conn, clock, monotonic
        self._open: dict[tuple[str | None, str, int, str], _Open] = {}
        self._buckets = {signed: _Bucket(NEW_ROWS_BURST, NEW_ROWS_PER_HOUR, monotonic)
                         for signed in (False, True)}

    def event(self, gateway: str | None, kind: str, first: int | None, last: int | None,
              detail: str) -> None:
        """One row as it is (gap, thinned: from a verified batch, in the caller's transaction)."""
        wall = self.clock()
        self.conn.execute("INSERT INTO events (gateway, wall, kind, first_seq, last_seq, detail, "
                          "count, last_wall) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                          (gateway, wall, kind, first, last, clip(detail, MAX_DETAIL_CHARS),
                           wall))

    def refusal(self, gateway: str | None, kind: str, code: int, source: str,
                first: int | None, last: int | None, detail: str, signed: bool) -> bool:
        """Count one refusal; True when it started a row of its own (worth a log line)."""
        gateway = None if not gateway else clip(gateway, MAX_GATEWAY_CHARS)
        source = clip(source, MAX_SOURCE_CHARS)
        detail = clip(detail, MAX_DETAIL_CHARS)
        key = (gateway, kind, code, source)
        wall, now = self.clock(), self.monotonic()
        found = self._open.get(key)
        if found is not None and wall - found.last_wall <= AGGREGATE_SECONDS:
            found.count += 1
            found.last_wall, found.first_seq, found.last_seq = wall, first, last
            found.detail = detail
            if now - found.flushed >= FLUSH_SECONDS:
                self._write(found, now)
            return False
        if kind != RATE_LIMITED and not self._buckets[signed].take():
            # Over the rate: counted on the one rate_limited row (which may start anew).
            what = f"{gateway!r} {kind} (HTTP {code}) from {source or '?'}: {detail}"
            return self.refusal(None, RATE_LIMITED, 429, "", None, None,
                                f"refusals beyond the event rate limit, counted here; the "
                                f"latest: {what}", signed)
        row = self.conn.execute(
            "INSERT INTO events (gateway, wall, kind, first_seq, last_seq, detail, count, "
            "last_wall, source) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (gateway, wall, kind, first, last, detail, wall, source or None)).lastrowid
        if len(self._open) >= MAX_OPEN:
            self._close_oldest()
        self._open[key] = _Open(row, 1, 1, wall, first, last, detail, now)
        return True

    def flush(self, everything: bool = False) -> None:
        """Write the counts memory holds (those due, or all of them)."""
        now = self.monotonic()
        for found in self._open.values():
            if found.count > found.written and (everything or
                                                now - found.flushed >= FLUSH_SECONDS):
                self._write(found, now)

    def _write(self, found: _Open, now: float) -> None:
        self.conn.execute("UPDATE events SET count = ?, last_wall = ?, first_seq = ?, "
                          "last_seq = ?, detail = ? WHERE id = ?",
                          (found.count, found.last_wall, found.first_seq, found.last_seq,
                           found.detail, found.row))
        found.written, found.flushed = found.count, now

    def _close_oldest(self) -> None:
        """Write and forget the older half of the open rows (a repeat of one starts a row)."""
        self.flush(everything=True)
        by_age = sorted(self._open, key=lambda key: self._open[key].last_wall)
        for key in by_age[:len(by_age) // 2]:
            del self._open[key]
