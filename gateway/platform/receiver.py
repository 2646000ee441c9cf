"""The receiving end of the uplink: check a batch completely, store it once, acknowledge it.

Receiver.accept(batch bytes) -> Ack, the same for HTTPS and MQTT, in this order:
  1. framing (gateway/uplink/wire.py open_envelope);
  2. the gateway is in the registry, and the envelope signature verifies with its key;
  3. the nonce is above the last accepted one (else: a replay);
  4. the payload decompresses and decodes;
  5. the batch continues what is stored: its first block is the next one expected, or one already
     stored (a resend: identical block, same signature), or - only for the first batch of a
     gateway, or one marked resume (the gateway no longer has what comes between) - a new start,
     recorded as a gap event;
  6. every record's leaf is computed from its canonical bytes (gateway/store/chain.py), chained
     from the batch's prev_head, and every block's signature verified with the registered key;
  7. the records not stored yet are stored, with their blocks, in one transaction; then the ack:
     the highest seq up to which everything from the gateway's first seq is stored.
A batch failing 1-6 is rejected with the reason, recorded as an event, and nothing of it stored.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.batchwork import batch_gc
from gateway.platform.db import open_database
from gateway.store import chain
from gateway.store.leaves import canonical_leaves
from gateway.store.records import pack_raw, seq_ranges
from gateway.uplink.acksign import sign_ack
from gateway.uplink.columns import WireError
from gateway.uplink.wire import Batch, Tombstone, decode_envelope, open_envelope

log = logging.getLogger(__name__)

STORED, DUPLICATE, REJECTED = "stored", "duplicate", "rejected"
SIGNATURES_PER_TASK = 256
_SIGNATURE_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="signature-check")
_INSERTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-insert")
INSERT_RECORD = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                         allow_nan=False)


@dataclass
class Ack:
    """The receiver's answer to one batch (the HTTP response body and the MQTT ack message)."""

    status: str  # stored | duplicate | rejected
    gateway: str
    acked_seq: int | None  # everything from the gateway's first seq to here is stored
    nonce: int | None = None
    first_seq: int | None = None  # the batch's
    last_seq: int | None = None
    stored: int = 0  # records of this batch newly stored
    reason: str = ""
    code: int = 200  # the HTTP status that goes with it
    last_nonce: int | None = None  # with a replay rejection: the last nonce accepted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)



class Rejected(Exception):
    def __init__(self, code: int, kind: str, reason: str, first_seq: int | None = None,
                 last_seq: int | None = None, last_nonce: int | None = None) -> None:
        super().__init__(reason)
        self.code, self.kind, self.reason = code, kind, reason
        self.first_seq, self.last_seq, self.last_nonce = first_seq, last_seq, last_nonce


@dataclass
class _State:
    first_seq: int
    acked_seq: int
    head: bytes
    next_block: int
    last_nonce: int


class Receiver:
    """Checks and stores batches for the registered gateways; thread-safe (one at a time)."""

    def __init__(self, database: Path, keys: dict[str, Ed25519PublicKey],
                 max_batch_bytes: int = 64 * 1024 * 1024,
                 clock: Callable[[], float] = time.time,
                 ack_key: Ed25519PrivateKey | None = None) -> None:
        self.database = Path(database)
        self.keys = dict(keys)
        self.ack_key = ack_key
        self.max_batch_bytes = max_batch_bytes
        self.clock = clock
        self.conn = open_database(self.database)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def ack_body(self, ack: Ack) -> dict[str, Any]:
        """The ack as the HTTP body or MQTT message carries it: signed with the ack key, if the
        receiver has one (gateway/uplink/acksign.py)."""
        body = ack.as_dict()
        return body if self.ack_key is None else sign_ack(self.ack_key, body)

    # --- the one entry point ---------------------------------------------------------------------

    def accept(self, data: bytes) -> Ack:
        """Check, store and acknowledge one batch (never raises for a bad batch: it says why)."""
        with self._lock, batch_gc():
            gateway, nonce = "", None
            try:
                if len(data) > self.max_batch_bytes:
                    raise Rejected(413, "rejected", f"batch of {len(data)} bytes; this receiver "
                                   f"takes at most {self.max_batch_bytes}")
                try:
                    envelope = open_envelope(data)
                except WireError as exc:
                    raise Rejected(400, "rejected", f"malformed batch: {exc}") from None
                gateway, nonce = envelope.gateway, envelope.header["nonce"]
                key = self.keys.get(gateway)
                if key is None:
                    raise Rejected(403, "rejected", f"unknown gateway {gateway!r}: it is not in "
                                   "this receiver's registry")
                if not envelope.signature_valid(key):
                    raise Rejected(403, "verification_failed",
                                   f"the batch signature does not verify with gateway "
                                   f"{gateway!r}'s registered key: signed with another key, or "
                                   "altered on the way")
                state = self._state(gateway)
                if state is not None and nonce <= state.last_nonce:
                    raise Rejected(409, "replay",
                                   f"replayed batch: nonce {nonce} is not above the last "
                                   f"accepted nonce {state.last_nonce}",
                                   envelope.header["first_seq"], envelope.header["last_seq"],
                                   state.last_nonce)
                try:
                    batch = decode_envelope(envelope)
                except WireError as exc:
                    raise Rejected(400, "rejected", f"malformed batch: {exc}") from None
                return self._accept(batch, state, key)
            except Rejected as rejected:
                return self._reject(gateway, nonce, rejected)

    # --- checks ----------------------------------------------------------------------------------

    def _state(self, gateway: str) -> _State | None:
        row = self.conn.execute("SELECT first_seq, acked_seq, head, next_block, last_nonce FROM "
                                "gateways WHERE gateway = ?", (gateway,)).fetchone()
        return _State(*row) if row else None

    def _accept(self, batch: Batch, state: _State | None, key: Ed25519PublicKey) -> Ack:
        gateway = batch.gateway
        acked = state.acked_seq if state else 0
        if state is not None and batch.last_seq <= acked:
            self._seen(gateway, batch.nonce)
            return Ack(DUPLICATE, gateway, acked, batch.nonce, batch.first_seq, batch.last_seq,
                       reason=f"seq {batch.first_seq}..{batch.last_seq} already stored")
        gap = self._check_continuity(batch, state)
        first_new = max(batch.first_seq, acked + 1)
        rows = _Rows(batch, first_new)
        conn = self.conn
        inserts: list[Future] = []

        def insert_verified(low: int, high: int) -> None:
            """Rows of records batch.records[low:high], whose blocks are hashed: inserted in
            the open transaction by a worker thread (SQLite works without the GIL) while the
            next blocks are verified; committed only if everything verifies."""
            chunk = rows.build(low, high)
            if chunk:
                inserts.append(_INSERTER.submit(conn.executemany, INSERT_RECORD, chunk))

        conn.execute("BEGIN IMMEDIATE")
        try:
            heads = self._verify(batch, key, insert_verified)
            for insert in inserts:
                insert.result()
            self._finish(batch, state, heads, gap, first_new, rows)
            conn.execute("COMMIT")
        except BaseException:
            futures_wait(inserts)  # the connection is free again before the rollback
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return Ack(STORED, gateway, batch.last_seq, batch.nonce, batch.first_seq,
                   batch.last_seq, rows.count)

    def _check_continuity(self, batch: Batch, state: _State | None) -> tuple[int, int] | None:
        """The gap this batch starts after (first, last seq missing), if it may start anew."""
        first, block_no = batch.first_seq, batch.blocks[0].block_no
        if state is None or (batch.resume and first > state.acked_seq + 1):
            if first == 1 and (block_no != 0 or batch.prev_head != chain.ZERO_HEAD):
                raise Rejected(422, "verification_failed", "seq 1 must be block 0 starting "
                               "from the zero head", first, batch.last_seq)
            if state is None:
                return (1, first - 1) if first > 1 else None
            return (state.acked_seq + 1, first - 1)
        if first == state.acked_seq + 1:
            if block_no != state.next_block or batch.prev_head != state.head:
                raise Rejected(409, "verification_failed",
                               f"the batch does not continue the chain: it starts block "
                               f"{block_no} at seq {first} from another head than block "
                               f"{state.next_block - 1}'s", first, batch.last_seq)
            return None
        if first > state.acked_seq + 1:
            raise Rejected(409, "out_of_order", f"the batch starts at seq {first} but seq "
                           f"{state.acked_seq + 1} is the next one expected", first,
                           batch.last_seq)
        stored = self.conn.execute("SELECT first_seq, last_seq, prev_head, signature FROM blocks "
                                   "WHERE gateway = ? AND block_no = ?",
                                   (batch.gateway, block_no)).fetchone()
        sent = batch.blocks[0]
        if stored is None or stored != (sent.first_seq, sent.last_seq, batch.prev_head,
                                        sent.signature):
            raise Rejected(409, "verification_failed",
                           f"block {block_no} (seq {first}..{sent.last_seq}) differs from the "
                           "block stored under that number, or starts before what is stored",
                           first, batch.last_seq)
        return None

    def _verify(self, batch: Batch, key: Ed25519PublicKey,
                verified: Callable[[int, int], None] | None = None) -> list[bytes]:
        """Every record's leaf chained from prev_head; every block signature checked. Returns
        each block's head. Signatures are checked in worker threads (the check releases the
        GIL) while the next blocks are hashed."""
        records, first_seq = batch.records, batch.first_seq
        canonical, leaf_hash, step = chain.canonical_bytes, chain.leaf_hash, chain.chain_step
        fast = _fast_leaves(records)  # every leaf at once, or None: then one by one, below
        running = batch.prev_head
        heads: list[bytes] = []
        pending: list[tuple[int, int, int, bytes, bytes, bytes]] = []
        checks = []
        for block in batch.blocks:
            prev_head = running
            for offset in range(block.first_seq - first_seq, block.last_seq - first_seq + 1):
                record = records[offset]
                if fast is not None:
                    leaf = fast[offset]
                elif isinstance(record, Tombstone):
                    leaf = record.leaf
                else:
                    try:
                        leaf = leaf_hash(canonical(record))
                    except (TypeError, ValueError) as exc:
                        raise Rejected(422, "verification_failed",
                                       f"seq {first_seq + offset} cannot be written as "
                                       f"canonical bytes: {exc}", block.first_seq,
                                       block.last_seq) from None
                running = step(running, leaf)
            heads.append(running)
            pending.append((block.block_no, block.first_seq, block.last_seq, prev_head, running,
                            block.signature))
            if len(pending) >= SIGNATURES_PER_TASK:
                checks.append(_SIGNATURE_POOL.submit(_first_bad_signature, key, pending))
                if verified is not None:
                    verified(pending[0][1] - first_seq, pending[-1][2] - first_seq + 1)
                pending = []
        if pending:
            checks.append(_SIGNATURE_POOL.submit(_first_bad_signature, key, pending))
            if verified is not None:
                verified(pending[0][1] - first_seq, pending[-1][2] - first_seq + 1)
        bad = next((found for check in checks if (found := check.result()) is not None), None)
        if bad is not None:
            # The header's head is what the gateway's store holds: if the records still hash to
            # it, they are as stored and the signature is the problem; otherwise a record differs.
            block_no, first, last = bad
            why = ("the signature does not verify with the registered key (signed with another "
                   "key)" if running == batch.head else
                   "its records do not hash to the signed head: a record was modified")
            raise Rejected(422, "verification_failed", f"block {block_no} (seq {first}..{last})"
                           f": {why}", first, last)
        if running != batch.head:
            raise Rejected(422, "verification_failed", "the records do not hash to the head "
                           "the batch header states", batch.first_seq, batch.last_seq)
        return heads

    # --- storing ---------------------------------------------------------------------------------

    def _finish(self, batch: Batch, state: _State | None, heads: list[bytes],
                gap: tuple[int, int] | None, first_new: int, rows: _Rows) -> None:
        """Blocks, the gateway's row and the events, in the open transaction."""
        gateway, now, conn = batch.gateway, self.clock(), self.conn
        block_rows = []
        prev = batch.prev_head
        for block, head in zip(batch.blocks, heads, strict=True):
            if block.last_seq >= first_new:
                block_rows.append((gateway, block.block_no, block.first_seq, block.last_seq, prev,
                                   head, block.signature))
            prev = head
        conn.executemany("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)", block_rows)
        last_block = batch.blocks[-1].block_no
        if state is None:
            conn.execute("INSERT INTO gateways VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (gateway, batch.first_seq, batch.last_seq, heads[-1], last_block + 1,
                          batch.nonce, now, rows.count, len(rows.thinned)))
        else:
            conn.execute("UPDATE gateways SET acked_seq = ?, head = ?, next_block = ?, "
                         "last_nonce = ?, last_seen = ?, records = records + ?, "
                         "thinned = thinned + ? WHERE gateway = ?",
                         (batch.last_seq, heads[-1], last_block + 1, batch.nonce, now,
                          rows.count, len(rows.thinned), gateway))
        if gap is not None:
            why = ("before the first batch this receiver got" if state is None else
                   "the gateway resumed after them: it no longer holds them")
            self._event(gateway, "gap", gap[0], gap[1],
                        f"seq {gap[0]}..{gap[1]} never received ({why})")
        for first, last in seq_ranges(rows.thinned):
            self._event(gateway, "thinned", first, last, f"seq {first}..{last} arrived "
                        "thinned (content removed at the gateway, leaf kept)")

    def _seen(self, gateway: str, nonce: int) -> None:
        self.conn.execute("UPDATE gateways SET last_nonce = max(last_nonce, ?), last_seen = ? "
                          "WHERE gateway = ?", (nonce, self.clock(), gateway))

    def _event(self, gateway: str | None, kind: str, first: int | None, last: int | None,
               detail: str) -> None:
        self.conn.execute("INSERT INTO events (gateway, wall, kind, first_seq, last_seq, detail) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (gateway, self.clock(), kind, first, last, detail))

    def _reject(self, gateway: str, nonce: int | None, rejected: Rejected) -> Ack:
        log.warning("batch from %r rejected: %s", gateway or "?", rejected.reason)
        try:
            self._event(gateway or None, rejected.kind, rejected.first_seq, rejected.last_seq,
                        rejected.reason)
        except sqlite3.Error as exc:
            log.error("cannot record the rejection: %s", exc)
        state = self._state(gateway) if gateway in self.keys else None
        return Ack(REJECTED, gateway, state.acked_seq if state else (0 if gateway in self.keys
                                                                      else None),
                   nonce, rejected.first_seq, rejected.last_seq, 0, rejected.reason,
                   rejected.code, rejected.last_nonce)

    # --- queries ---------------------------------------------------------------------------------

    def status(self, gateway: str) -> dict[str, Any] | None:
        """What is stored for one registered gateway (None if it is not registered)."""
        if gateway not in self.keys:
            return None
        with self._lock:
            state = self._state(gateway)
        return {"gateway": gateway, "acked_seq": state.acked_seq if state else 0,
                "first_seq": state.first_seq if state else None,
                "next_block": state.next_block if state else 0}


def _fast_leaves(records: Sequence[Any]) -> list[bytes] | None:
    """Every record's leaf (a tombstone's as sent), built column by column; None if a record
    is off the common types."""
    contents = [record for record in records if not isinstance(record, Tombstone)]
    leaves = canonical_leaves(contents)
    if leaves is None or len(contents) == len(records):
        return leaves
    computed = iter(leaves)
    return [record.leaf if isinstance(record, Tombstone) else next(computed)
            for record in records]


class _Rows:
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


def _first_bad_signature(key: Ed25519PublicKey,
                         blocks: Sequence[tuple[int, int, int, bytes, bytes, bytes]]
                         ) -> tuple[int, int, int] | None:
    for block_no, first, last, prev_head, head, signature in blocks:
        if not chain.block_signature_valid(key, block_no, first, last, prev_head, head,
                                           signature):
            return block_no, first, last
    return None


