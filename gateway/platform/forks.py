"""Forks: a gateway that signed other records under seqs the receiver already holds.

A gateway's store cut back (its newest blocks gone, next seq wound back: a 0-byte file after a
power cut, or tampering) signs new records under seqs it had delivered. Block signatures are
deterministic (Ed25519), so a block the receiver holds comes back with the same signature only
with the same records: a re-used seq is compared by its block first, and only when a block
differs are the records compared, leaf by leaf, to name the first seq that differs.
"""

from __future__ import annotations

import sqlite3

from gateway.platform.audit import LEAF_COLUMNS, stored_leaf
from gateway.store import chain
from gateway.uplink.payload import BlockSignature, Tombstone
from gateway.uplink.wire import Batch


def differing_block(conn: sqlite3.Connection, batch: Batch,
                    acked_seq: int) -> BlockSignature | None:
    """The batch's first block over stored seqs (up to acked_seq) that is not the block stored
    under its number (seqs, signature, and for the first one prev_head); None if all are."""
    overlap = [block for block in batch.blocks if block.first_seq <= acked_seq]
    if not overlap:
        return None
    stored = {row[0]: row[1:] for row in conn.execute(
        "SELECT block_no, first_seq, last_seq, prev_head, signature FROM blocks WHERE gateway = ? "
        "AND block_no BETWEEN ? AND ?", (batch.gateway, overlap[0].block_no,
                                         overlap[-1].block_no))}
    for index, block in enumerate(overlap):
        row = stored.get(block.block_no)
        if (row is None or (row[0], row[1], row[3]) != (block.first_seq, block.last_seq,
                                                        block.signature)
                or (index == 0 and row[2] != batch.prev_head)):
            return block
    return None


def first_differing_seq(conn: sqlite3.Connection, batch: Batch, low: int,
                        high: int) -> int | None:
    """The first seq in low..high whose record in the batch has another leaf than the one
    stored (None: they are all the same)."""
    rows = conn.execute(f"SELECT {LEAF_COLUMNS} FROM records WHERE gateway = ? AND seq BETWEEN "
                        "? AND ? ORDER BY seq", (batch.gateway, low, high))
    expected = low
    for row in rows:
        if row[0] != expected:
            return expected  # not stored: the receiver cannot say it is the same
        record = batch.records[row[0] - batch.first_seq]
        leaf = (record.leaf if isinstance(record, Tombstone)
                else chain.leaf_hash(chain.canonical_bytes(record)))
        if leaf != stored_leaf(row):
            return row[0]
        expected += 1
    return expected if expected <= high else None
