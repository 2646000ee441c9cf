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
     from the batch's prev_head, and the last block's signature verified with the registered
     key over the head reached: that proves every record and head of the batch (every block's
     signature is checked only when it fails, to name the block at fault; docs/platform.md);
  7. the records not stored yet are stored, with their blocks, in one transaction; then the ack:
     the highest seq up to which everything from the gateway's first seq is stored.
A batch failing 1-6 is rejected with the reason, recorded as an event (gateway/platform/events.py
bounds them), and nothing of it stored. Nothing raises out of accept(): an input that makes
anything fail is refused as malformed (400), a fault of the receiver's own (its database) is
refused as internal_error (500), both with the exception named. A batch that re-uses stored seqs
with other records (gateway/platform/forks.py) is refused with kind "fork" and the first seq
that differs (fork_seq), once its own signatures verify.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.batchwork import batch_gc
from gateway.platform.columnar import Verified, decode_batch
from gateway.platform.db import open_database
from gateway.platform.events import EventLog, clip
from gateway.platform.forks import differing_block, first_differing_seq
from gateway.platform.rows import (
    NotCanonical,
    Rows,
    chain_blocks,
    first_bad_signature,
)
from gateway.store import chain
from gateway.store.records import seq_ranges
from gateway.uplink.acksign import sign_ack
from gateway.uplink.columns import WireError
from gateway.uplink.wire import (
    MAGIC,
    MAX_HEADER,
    Batch,
    Envelope,
    open_envelope,
)

log = logging.getLogger(__name__)

STORED, DUPLICATE, REJECTED = "stored", "duplicate", "rejected"
INSERT_CHUNK = 4096  # records hashed before their rows go to the insert thread
_INSERTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-insert")
MAX_INTEGER = 2**63 - 1  # SQLite's INTEGER
_HEADER_INTEGERS = ("nonce", "first_seq", "last_seq", "first_block", "blocks", "payload_size")
ENVELOPE_PREFIX = 6 + chain.SIGNATURE_SIZE  # magic and header length, signature (+ the header)


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
    kind: str = ""  # with a rejection: rejected | verification_failed | replay | out_of_order |
    #                 fork | internal_error
    fork_seq: int | None = None  # with a fork: the first seq whose stored record differs

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Rejected(Exception):
    """A refusal: the HTTP code, its kind, why, and the seqs the event names."""

    def __init__(self, code: int, kind: str, reason: str, first_seq: int | None = None,
                 last_seq: int | None = None, last_nonce: int | None = None,
                 fork_seq: int | None = None) -> None:
        super().__init__(reason)
        self.code, self.kind, self.reason = code, kind, reason
        self.first_seq, self.last_seq, self.last_nonce = first_seq, last_seq, last_nonce
        self.fork_seq = fork_seq


@dataclass
class _Seen:
    """What accept() has learnt of a batch so far (for its refusal)."""

    gateway: str = ""
    nonce: int | None = None
    seqs: tuple[int, int] | None = None
    signed: bool = False  # the envelope signature verified with the gateway's key


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
        self.events = EventLog(self.conn, clock)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._flush_events(everything=True)
            self.conn.close()

    def flush_events(self) -> None:
        """Write the refusal counts held in memory (close() does it too)."""
        with self._lock:
            self._flush_events(everything=True)

    def _flush_events(self, everything: bool = False) -> None:
        try:
            self.events.flush(everything)
        except sqlite3.Error as exc:
            log.error("cannot record refusal counts: %s", exc)

    def ack_body(self, ack: Ack) -> dict[str, Any]:
        """The ack as the HTTP body or MQTT message carries it: signed with the ack key, if the
        receiver has one (gateway/uplink/acksign.py)."""
        body = ack.as_dict()
        return body if self.ack_key is None else sign_ack(self.ack_key, body)

    # --- the one entry point ---------------------------------------------------------------------

    def accept(self, data: bytes, source: str = "") -> Ack:
        """Check, store and acknowledge one batch; never raises: a refusal says why. `source`
        names where it came from (an address, "mqtt") for the event log."""
        with self._lock, batch_gc():
            self._flush_events()
            seen = _Seen()
            try:
                if len(data) > self.max_batch_bytes:
                    raise self._too_large(len(data))
                envelope, key, state = self._open(data, seen)
                try:
                    batch, verified = decode_batch(envelope)
                except WireError as exc:
                    raise Rejected(400, "rejected", f"malformed batch: {exc}") from None
                except Exception as exc:  # the decoder met what it did not foresee
                    raise Rejected(400, "rejected", "malformed batch: the payload cannot be "
                                   f"decoded ({_named(exc)})") from None
                return self._accept(batch, state, key, verified)
            except Rejected as rejected:
                return self._reject(seen, rejected, source)
            except Exception as exc:
                log.exception("batch from %r: the receiver failed on it", seen.gateway or "?")
                why = (f"the receiver could not store the batch ({_named(exc)}); nothing of it "
                       "is stored, send it again later" if isinstance(exc, sqlite3.Error) else
                       f"the receiver failed on this batch ({_named(exc)}); nothing of it is "
                       "stored")
                return self._reject(seen, Rejected(500, "internal_error", why), source)

    def screen(self, prefix: bytes, source: str = "") -> Ack | None:
        """The refusal of a batch whose first bytes condemn it already (framing, registry,
        envelope signature, replayed nonce), so that HTTPS reads no more of it; None while it
        may be good. `prefix` holds screen_length(prefix) bytes, or the whole body."""
        with self._lock:
            seen = _Seen()
            try:
                self._open(prefix[:self.screen_length(prefix)], seen)
            except Rejected as rejected:
                return self._reject(seen, rejected, source)
            except Exception:  # accept() will refuse it with the reason
                return None
            return None

    @staticmethod
    def screen_length(prefix: bytes) -> int:
        """How many first bytes screen() needs (magic, header length, header, signature)."""
        if len(prefix) < 6 or prefix[:4] != MAGIC:
            return 6
        size = int.from_bytes(prefix[4:6], "big")
        return 6 if size > MAX_HEADER else ENVELOPE_PREFIX + size

    def refuse_too_large(self, size: int, source: str = "", more: bool = False) -> Ack:
        """The refusal of a body of `size` bytes (or, more: of more than that) before reading
        it all."""
        with self._lock:
            return self._reject(_Seen(), self._too_large(size, more), source)

    # --- checks ----------------------------------------------------------------------------------

    def _too_large(self, size: int, more: bool = False) -> Rejected:
        return Rejected(413, "rejected", f"batch of {'more than ' if more else ''}{size} bytes; "
                        f"this receiver takes at most {self.max_batch_bytes}")

    def _open(self, data: bytes, seen: _Seen) -> tuple[Envelope, Ed25519PublicKey,
                                                       _State | None]:
        """Steps 1-3: framing, registry, envelope signature, nonce."""
        try:
            envelope = open_envelope(data)
        except WireError as exc:
            raise Rejected(400, "rejected", f"malformed batch: {exc}") from None
        except Exception as exc:  # e.g. RecursionError: a header nested too deeply
            raise Rejected(400, "rejected", "malformed batch: batch header cannot be read "
                           f"({_named(exc)})") from None
        header = envelope.header
        for name in _HEADER_INTEGERS:
            if not 0 <= header[name] <= MAX_INTEGER:
                raise Rejected(400, "rejected", f"malformed batch: header field {name!r} is "
                               f"{clip(str(header[name]), 40)}; expected 0..{MAX_INTEGER} "
                               "(below 2**63, what the receiver's database holds)")
        seen.gateway, seen.nonce = envelope.gateway, header["nonce"]
        seen.seqs = (header["first_seq"], header["last_seq"])
        key = self.keys.get(seen.gateway)
        if key is None:
            raise Rejected(403, "rejected", f"unknown gateway {clip(seen.gateway, 64)!r}: it is "
                           "not in this receiver's registry")
        if not envelope.signature_valid(key):
            raise Rejected(403, "verification_failed",
                           f"the batch signature does not verify with gateway "
                           f"{seen.gateway!r}'s registered key: signed with another key, or "
                           "altered on the way")
        seen.signed = True
        state = self._state(seen.gateway)
        if state is not None and seen.nonce <= state.last_nonce:
            raise Rejected(409, "replay", f"replayed batch: nonce {seen.nonce} is not above the "
                           f"last accepted nonce {state.last_nonce}", *seen.seqs,
                           state.last_nonce)
        return envelope, key, state

    # --- checks ----------------------------------------------------------------------------------

    def _state(self, gateway: str) -> _State | None:
        row = self.conn.execute("SELECT first_seq, acked_seq, head, next_block, last_nonce FROM "
                                "gateways WHERE gateway = ?", (gateway,)).fetchone()
        return _State(*row) if row else None

    def _accept(self, batch: Batch, state: _State | None, key: Ed25519PublicKey,
                verified: Verified | None = None) -> Ack:
        gateway = batch.gateway
        acked = state.acked_seq if state else 0
        if state is not None and batch.first_seq <= acked:
            self._check_stored_seqs(batch, state, key)
            if batch.last_seq <= acked:
                self._seen(gateway, batch.nonce)
                return Ack(DUPLICATE, gateway, acked, batch.nonce, batch.first_seq,
                           batch.last_seq, reason=f"seq {batch.first_seq}..{batch.last_seq} "
                           "already stored")
        gap = self._check_continuity(batch, state, key)
        first_new = max(batch.first_seq, acked + 1)
        rows = Rows(batch, first_new, verified)
        conn = self.conn
        inserts: list[Future] = []

        def insert_verified(low: int, high: int) -> None:
            """Rows of records batch.records[low:high], whose blocks are hashed: inserted in
            the open transaction by a worker thread (SQLite works without the GIL) while the
            next blocks are verified; committed only if everything verifies."""
            chunk = rows.build(low, high)
            if chunk:
                inserts.append(_INSERTER.submit(conn.executemany, rows.insert, chunk))

        conn.execute("BEGIN IMMEDIATE")
        try:
            heads = self._verify(batch, key, insert_verified, verified)
            for insert in inserts:
                insert.result()
            if state is not None and batch.first_seq <= acked:
                self._check_stored_head(batch, state, heads, key)
            self._finish(batch, state, heads, gap, first_new, rows)
            conn.execute("COMMIT")
        except BaseException:
            futures_wait(inserts)  # the connection is free again before the rollback
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return Ack(STORED, gateway, batch.last_seq, batch.nonce, batch.first_seq,
                   batch.last_seq, rows.count)

    def _check_stored_seqs(self, batch: Batch, state: _State, key: Ed25519PublicKey) -> None:
        """A batch over seqs already stored: the same blocks (a harmless resend), or a fork."""
        if batch.first_seq < state.first_seq:
            raise Rejected(409, "verification_failed", f"the batch starts at seq "
                           f"{batch.first_seq}, before what is stored (seq {state.first_seq}..)",
                           batch.first_seq, batch.last_seq)
        block = differing_block(self.conn, batch, state.acked_seq)
        if block is None:
            return
        high = min(batch.last_seq, state.acked_seq)
        fork_seq = first_differing_seq(self.conn, batch, block.first_seq, high)
        if fork_seq is None:  # the same records, cut into other blocks
            fork_seq = high + 1
        self._refuse_fork(batch, key, fork_seq, f"block {block.block_no} (seq {block.first_seq}"
                          f"..{block.last_seq}) is not the block stored under that number: "
                          f"seq {fork_seq} differs from the record stored")

    def _check_stored_head(self, batch: Batch, state: _State, heads: list[bytes],
                           key: Ed25519PublicKey) -> None:
        """A batch over stored seqs must reach the stored head at acked_seq: its blocks having
        the signatures stored proves nothing more once only a batch's last signature is
        verified (docs/platform.md, "One signature per batch")."""
        index = next((index for index, block in enumerate(batch.blocks)
                      if block.last_seq == state.acked_seq), None)
        if index is None or heads[index] != state.head:
            fork_seq = first_differing_seq(self.conn, batch, batch.first_seq, state.acked_seq)
            self._refuse_fork(batch, key, fork_seq or state.acked_seq + 1, f"its records "
                              f"reach another head at seq {state.acked_seq} than the one "
                              "stored")

    def _refuse_fork(self, batch: Batch, key: Ed25519PublicKey, fork_seq: int | None,
                     why: str) -> None:
        """Raise the fork refusal, once the batch's own signatures verify (if they do not,
        that is the refusal)."""
        self._verify(batch, key)
        raise Rejected(409, "fork", f"fork: the gateway signed other records under seqs this "
                       f"receiver holds: {why}; the receiver keeps what it stored (acked_seq)",
                       fork_seq, batch.last_seq, fork_seq=fork_seq)

    def _check_continuity(self, batch: Batch, state: _State | None,
                          key: Ed25519PublicKey) -> tuple[int, int] | None:
        """The gap this batch starts after (first, last seq missing), if it may start anew."""
        first, block_no = batch.first_seq, batch.blocks[0].block_no
        if state is None or (batch.resume and first > state.acked_seq + 1):
            if first == 1 and (block_no != 0 or batch.prev_head != chain.ZERO_HEAD):
                raise Rejected(422, "verification_failed", "seq 1 must be block 0 starting "
                               "from the zero head", first, batch.last_seq)
            if state is None:
                return (1, first - 1) if first > 1 else None
            if block_no < state.next_block:
                self._refuse_fork(batch, key, None, f"the batch resumes at seq {first} with "
                                  f"block {block_no}, a number already stored (at or before "
                                  f"seq {state.acked_seq})")
            return (state.acked_seq + 1, first - 1)
        if first == state.acked_seq + 1:
            if batch.prev_head != state.head:
                self._refuse_fork(batch, key, None, f"the batch continues at seq {first} from "
                                  f"another chain head than the one stored: the gateway's chain "
                                  f"differs at or before seq {state.acked_seq}")
            if block_no != state.next_block:
                raise Rejected(409, "verification_failed",
                               f"the batch does not continue the chain: it starts block "
                               f"{block_no} at seq {first}; block {state.next_block} is the "
                               "next one expected", first, batch.last_seq)
            return None
        if first > state.acked_seq + 1:
            raise Rejected(409, "out_of_order", f"the batch starts at seq {first} but seq "
                           f"{state.acked_seq + 1} is the next one expected", first,
                           batch.last_seq)
        return None  # over stored seqs, the same blocks (_check_stored_seqs)

    def _verify(self, batch: Batch, key: Ed25519PublicKey,
                verified: Callable[[int, int], None] | None = None,
                columns: Verified | None = None) -> list[bytes]:
        """Every record's leaf chained from prev_head, and the last block's signature checked
        over the head reached: through the chain it proves every record and every earlier head
        of the batch (docs/platform.md, "One signature per batch"). Returns each block's head.
        Records of hashed blocks go to `verified` in chunks, to be inserted meanwhile."""
        try:
            heads, signed = chain_blocks(batch, verified, INSERT_CHUNK,
                                         columns.leaves if columns else None)
        except NotCanonical as exc:
            raise Rejected(422, "verification_failed", str(exc), exc.block.first_seq,
                           exc.block.last_seq) from None
        running = heads[-1]
        if first_bad_signature(key, signed[-1:]) is not None:
            # Refused: which block is at fault is worth the time it takes to say.
            bad = first_bad_signature(key, signed)
            assert bad is not None  # the last block's, at least
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
                gap: tuple[int, int] | None, first_new: int, rows: Rows) -> None:
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
        self.events.event(gateway, kind, first, last, detail)

    def _reject(self, seen: _Seen, rejected: Rejected, source: str) -> Ack:
        """Record the refusal (bounded: events.py) and answer it; never raises."""
        gateway = seen.gateway
        try:
            if self.events.refusal(gateway, rejected.kind, rejected.code, source,
                                   rejected.first_seq, rejected.last_seq, rejected.reason,
                                   seen.signed):
                log.warning("batch from %r rejected: %s", clip(gateway, 64) or "?",
                            clip(rejected.reason, 300))
        except sqlite3.Error as exc:
            log.error("cannot record the rejection: %s", exc)
        acked = None
        if gateway in self.keys:
            try:
                state = self._state(gateway)
                acked = state.acked_seq if state else 0
            except sqlite3.Error as exc:
                log.error("cannot read gateway %r's state: %s", gateway, exc)
        first, last = seen.seqs if seen.seqs else (rejected.first_seq, rejected.last_seq)
        return Ack(REJECTED, gateway, acked, seen.nonce, first, last, 0, rejected.reason,
                   rejected.code, rejected.last_nonce, rejected.kind, rejected.fork_seq)

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


def _named(exc: BaseException) -> str:
    return clip(f"{type(exc).__name__}: {exc}", 200)
