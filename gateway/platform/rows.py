"""A batch's records as rows of the receiver's records table, and the checks that go with them:
every leaf at once where the columns allow, block signatures in a worker thread."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.store import chain
from gateway.store.leaves import canonical_leaves
from gateway.store.records import pack_raw
from gateway.uplink.payload import Tombstone
from gateway.uplink.wire import Batch

INSERT_RECORD = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                         allow_nan=False)


def fast_leaves(records: Sequence[Any]) -> list[bytes] | None:
    """Every record's leaf (a tombstone's as sent), built column by column; None if a record
    is off the common types."""
    contents = [record for record in records if not isinstance(record, Tombstone)]
    leaves = canonical_leaves(contents)
    if leaves is None or len(contents) == len(records):
        return leaves
    computed = iter(leaves)
    return [record.leaf if isinstance(record, Tombstone) else next(computed)
            for record in records]


class Rows:
    """The records-table rows of a batch's new records (seq >= first_new), built chunk by
    chunk."""

    def __init__(self, batch: Batch, first_new: int) -> None:
        self.batch = batch
        self.skip = first_new - batch.first_seq  # offsets below this are stored already
        self.count = 0
        self.thinned: list[int] = []
        self._texts: dict[int, str] = {}

    def build(self, low: int, high: int) -> list[tuple[Any, ...]]:
        gateway, texts = self.batch.gateway, self._texts
        rows = []
        for record in self.batch.records[max(low, self.skip):high]:
            if isinstance(record, Tombstone):
                rows.append((gateway, record.seq, None, None, None, None, None, None, None,
                             None, None, None, None, record.leaf))
                self.thinned.append(record.seq)
                continue
            data = record[11]
            text = None
            if data is not None:
                text = texts.get(id(data))
                if text is None:
                    text = texts[id(data)] = _JSON.encode(data)
            rows.append((gateway, *record[:7], pack_raw(record[7]), record[8], record[9],
                         record[10], text, None))
        self.count += len(rows)
        return rows


def first_bad_signature(key: Ed25519PublicKey,
                        blocks: Sequence[tuple[int, int, int, bytes, bytes, bytes]]
                        ) -> tuple[int, int, int] | None:
    """(block_no, first, last) of the first block whose signature does not verify, or None."""
    for block_no, first, last, prev_head, head, signature in blocks:
        if not chain.block_signature_valid(key, block_no, first, last, prev_head, head,
                                           signature):
            return block_no, first, last
    return None
