"""A batch's records as rows of the receiver's records table, and the checks that go with them:
every leaf at once where the columns allow, chained block by block, block signatures."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.platform.columnar import INSERT_PLAIN, Verified
from gateway.store import chain
from gateway.store.leaves import canonical_leaves
from gateway.store.records import pack_raw
from gateway.uplink.payload import BlockSignature, Tombstone
from gateway.uplink.wire import Batch

INSERT_RECORD = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UNKNOWN = object()
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

    def __init__(self, batch: Batch, first_new: int, verified: Verified | None = None) -> None:
        self.batch = batch
        self.verified = verified  # every row made already (gateway/platform/columnar.py)
        self.insert = INSERT_RECORD if verified is None else INSERT_PLAIN  # for build()'s rows
        self.skip = first_new - batch.first_seq  # offsets below this are stored already
        self.count = 0
        self.thinned: list[int] = []
        self._texts: dict[int, str] = {}
        self._packs: dict[tuple[int, ...], bytes | None] = {}  # raws repeat minute to minute

    def build(self, low: int, high: int) -> list[tuple[Any, ...]]:
        if self.verified is not None:
            made = self.verified.rows[max(low, self.skip):high]
            self.count += len(made)
            return made
        gateway, texts, packs = self.batch.gateway, self._texts, self._packs
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
            raw = tuple(record[7])
            packed = packs.get(raw, _UNKNOWN)
            if packed is _UNKNOWN:
                packed = packs[raw] = pack_raw(raw)
            rows.append((gateway, *record[:7], packed, record[8], record[9], record[10], text,
                         None))
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


class NotCanonical(ValueError):
    """A record that has no canonical bytes (so no leaf), in its block."""

    def __init__(self, message: str, block: BlockSignature) -> None:
        super().__init__(message)
        self.block = block


SignedBlock = tuple[int, int, int, bytes, bytes, bytes]  # block_no, first, last, heads, signature


def chain_blocks(batch: Batch, verified: Callable[[int, int], None] | None,
                 chunk: int, leaves: list[bytes] | None = None
                 ) -> tuple[list[bytes], list[SignedBlock]]:
    """Every record's leaf chained from the batch's prev_head: each block's head, and each block
    as its signature covers it. Records of hashed blocks go to `verified` (offsets low, high),
    about `chunk` at a time; NotCanonical for a record without canonical bytes. `leaves`: every
    record's leaf, computed already from its canonical text (gateway/platform/columnar.py)."""
    records, first_seq = batch.records, batch.first_seq
    canonical, leaf_hash, step = chain.canonical_bytes, chain.leaf_hash, chain.chain_step
    sha256 = hashlib.sha256
    fast = leaves if leaves is not None else fast_leaves(records)  # or None: one by one
    running = batch.prev_head
    heads: list[bytes] = []
    signed: list[SignedBlock] = []
    chunk_start = 0
    for block in batch.blocks:
        prev_head = running
        low, high = block.first_seq - first_seq, block.last_seq - first_seq + 1
        if fast is not None:
            for leaf in fast[low:high]:
                running = sha256(running + leaf).digest()  # chain.chain_step, without a call
        else:
            for offset in range(low, high):
                record = records[offset]
                if isinstance(record, Tombstone):
                    leaf = record.leaf
                else:
                    try:
                        leaf = leaf_hash(canonical(record))
                    except (TypeError, ValueError) as exc:
                        raise NotCanonical(f"seq {first_seq + offset} cannot be written as "
                                           f"canonical bytes: {exc}", block) from None
                running = step(running, leaf)
        heads.append(running)
        signed.append((block.block_no, block.first_seq, block.last_seq, prev_head, running,
                       block.signature))
        if verified is not None and high - chunk_start >= chunk:
            verified(chunk_start, high)
            chunk_start = high
    if verified is not None and chunk_start < len(records):
        verified(chunk_start, len(records))
    return heads, signed
