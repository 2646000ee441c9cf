"""Retention and thinning: the only two ways history leaves the store, each recorded in the log.

Pruning removes whole blocks, oldest first, whose every record every configured uplink has
acknowledged (deliveries.acked_seq) and the accounting room has read (its newest checkpoint's
cursor), and only those older than the retention age (or of any age
when the disk runs low); the newest block is always kept so the chain continues. With no uplink
configured nothing counts as delivered and nothing is pruned. A "pruned" store_event lists the
blocks and seqs removed; the oldest remaining block's prev_head is signed, so verify starts there.

Thinning, when free space stays below the floor after pruning, turns undelivered readings into
tombstones, oldest first: totaliser readings are kept one per `keep_interval` seconds per point
(volume is never lost: totals are cumulative), status readings where their value changes, every
record that is not a reading always; other readings lose their content and keep their 32-byte
leaf, so every signature stays valid. The same transaction appends a "thinned" store_event that
lists exactly the seqs thinned (as ranges), why, and the free space at the time. A block is
thinned only if its records still hash to its signed head: thinning never launders an altered
record into a valid-looking tombstone. The rows of a thinned stretch are deleted and re-inserted
(not updated in place) so that SQLite frees whole pages for new records to reuse.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway import wallclock
from gateway.store import chain
from gateway.store.cursors import accounted_seq, delivered_seq
from gateway.store.records import (
    EVENT_PRUNED,
    EVENT_THINNED,
    KIND_READING,
    KIND_STORE_EVENT,
    ROW_COLUMNS,
    STORE_DEVICE,
    NewRecord,
    Record,
    seq_ranges,
)
from gateway.store.writer import StoreWriter

# rows as selected by ROW_COLUMNS, tombstones included, put back after a thinning
REINSERT_ROWS = (f"INSERT INTO records ({ROW_COLUMNS}) VALUES "
                 f"({', '.join('?' * len(ROW_COLUMNS.split(',')))})")
log = logging.getLogger(__name__)

THIN_STEP_RECORDS = 20_000  # records per thinning transaction: bounded time and WAL growth
PRUNE_STEP_BLOCKS = 2_000


@dataclass(frozen=True)
class PruneResult:
    first_block: int
    last_block: int
    first_seq: int
    last_seq: int
    records: int


@dataclass(frozen=True)
class ThinResult:
    ranges: list[tuple[int, int]]
    thinned: int
    through_seq: int  # thinning has looked at every record up to here


def _event(point: str, value: int, data: dict[str, Any]) -> NewRecord:
    return NewRecord.make(KIND_STORE_EVENT, STORE_DEVICE, point, value, "records",
                          wall_time=wallclock.now(), mono_time=time.monotonic(), data=data)


def prune_delivered(writer: StoreWriter, destinations: Sequence[str],
                    older_than_wall: float | None, reason: str,
                    max_blocks: int = PRUNE_STEP_BLOCKS) -> PruneResult | None:
    """Prune the oldest delivered blocks (committed before `older_than_wall`, if given); None if
    there were none. One transaction, with its "pruned" store_event."""
    with writer.transaction() as conn:
        delivered = delivered_seq(conn, destinations)
        accounted = accounted_seq(conn)  # records the accounting room has not read stay
        if accounted is not None:
            delivered = min(delivered, accounted)
        newest = conn.execute("SELECT max(block_no) FROM blocks").fetchone()[0]
        if delivered == 0 or newest is None:
            return None
        rows = conn.execute("SELECT block_no, first_seq, last_seq, signed_wall FROM blocks "
                            "WHERE block_no < ? ORDER BY block_no LIMIT ?", (newest, max_blocks))
        chosen = []
        for block_no, first_seq, last_seq, signed_wall in rows:
            if last_seq > delivered or (older_than_wall is not None
                                        and signed_wall >= older_than_wall):
                break
            chosen.append((block_no, first_seq, last_seq))
        if not chosen:
            return None
        result = PruneResult(chosen[0][0], chosen[-1][0], chosen[0][1], chosen[-1][2],
                             sum(last - first + 1 for _, first, last in chosen))
        conn.execute("DELETE FROM records WHERE seq BETWEEN ? AND ?",
                     (result.first_seq, result.last_seq))
        conn.execute("DELETE FROM blocks WHERE block_no BETWEEN ? AND ?",
                     (result.first_block, result.last_block))
        writer.append_in_transaction(conn, [_event(EVENT_PRUNED, result.records, {
            "event": EVENT_PRUNED,
            "blocks": [result.first_block, result.last_block],
            "seqs": [[result.first_seq, result.last_seq]],
            "delivered_seq": delivered,
            "destinations": list(destinations),
            "reason": reason,
        })])
    log.info("pruned blocks %d..%d (seq %d..%d, %d records): %s", result.first_block,
             result.last_block, result.first_seq, result.last_seq, result.records, reason)
    return result


class _KeepRule:
    """Which readings thinning keeps: totals every keep_interval s per point, status changes."""

    def __init__(self, keep_interval: float) -> None:
        self.keep_interval = keep_interval
        self.last_total: dict[tuple[str, str], float] = {}
        self.last_status: dict[tuple[str, str], Any] = {}

    def keep(self, record: Record) -> bool:
        if record.kind != KIND_READING or record.is_tombstone:
            return True
        point_kind = record.data.get("kind") if isinstance(record.data, dict) else None
        key = (record.device or "", record.point or "")
        if point_kind == "total":
            wall = record.wall_time or 0.0
            last = self.last_total.get(key)
            # A clock that jumped back starts a new interval rather than thinning everything.
            if last is None or wall - last >= self.keep_interval or wall < last:
                self.last_total[key] = wall
                return True
            return False
        if point_kind == "status":
            changed = key not in self.last_status or self.last_status[key] != record.value
            self.last_status[key] = record.value
            return changed
        return False


def _tombstone_row(seq: int, leaf: bytes) -> tuple[Any, ...]:
    return (seq, None, None, None, None, None, None, None, None, None, None, None, None, leaf)


def thin_oldest(writer: StoreWriter, keep_interval: float, reason: str, free_bytes: int,
                floor_bytes: int, max_records: int = THIN_STEP_RECORDS) -> ThinResult | None:
    """Thin the oldest not yet thinned stretch of about `max_records` records; None when
    everything has been thinned already. One transaction, with its "thinned" store_event."""
    with writer.transaction() as conn:
        through = int(writer.meta_value(conn, "thinned_through"))
        blocks = conn.execute(
            "SELECT block_no, first_seq, last_seq, prev_head, head FROM blocks "
            "WHERE last_seq > ? ORDER BY block_no", (through,))
        chosen, count = [], 0
        for block in blocks:
            chosen.append(block)
            count += block[2] - block[1] + 1
            if count >= max_records:
                break
        if not chosen:
            return None
        first_seq, last_seq = chosen[0][1], chosen[-1][2]
        rows = conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq BETWEEN ? AND ? "
                            "ORDER BY seq", (first_seq, last_seq)).fetchall()
        by_seq = {row[0]: row for row in rows}
        rule = _KeepRule(keep_interval)
        new_rows: list[tuple[Any, ...]] = []
        thinned: list[int] = []
        for block_no, block_first, block_last, prev_head, head in chosen:
            block_rows = [by_seq[seq] for seq in range(block_first, block_last + 1)
                          if seq in by_seq]
            records = [Record.from_row(row) for row in block_rows]
            leaves = [record.computed_leaf() for record in records]
            running = prev_head
            for leaf in leaves:
                running = chain.chain_step(running, leaf)
            if len(records) != block_last - block_first + 1 or running != head:
                log.error("block %d (seq %d..%d) does not match its signed head: not thinned "
                          "(run `wellgate verify`)", block_no, block_first, block_last)
                new_rows += block_rows
                continue
            for row, record, leaf in zip(block_rows, records, leaves, strict=True):
                if rule.keep(record):
                    new_rows.append(row)
                else:
                    new_rows.append(_tombstone_row(record.seq, leaf))
                    thinned.append(record.seq)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'thinned_through'", (last_seq,))
        ranges = seq_ranges(thinned)
        if thinned:
            conn.execute("DELETE FROM records WHERE seq BETWEEN ? AND ?", (first_seq, last_seq))
            conn.executemany(REINSERT_ROWS, new_rows)
            writer.append_in_transaction(conn, [_event(EVENT_THINNED, len(thinned), {
                "event": EVENT_THINNED,
                "seqs": [list(r) for r in ranges],
                "reason": reason,
                "free_bytes": free_bytes,
                "floor_bytes": floor_bytes,
                "kept": {"totals_every_s": keep_interval, "status": "changes",
                         "not_readings": "all"},
            })])
    if thinned:
        log.warning("thinned %d readings in seq %d..%d: %s", len(thinned), first_seq, last_seq,
                    reason)
    return ThinResult(ranges, len(thinned), last_seq)
